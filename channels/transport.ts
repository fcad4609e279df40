/**
 * The primitives a transport provides. The channel contract (publish validation,
 * backpressure, the consume loop with retry, claim and dead-lettering) is written once in
 * `channel.ts` and `consumer.ts` on top of these, so both transports behave the same by
 * construction and one contract test suite checks both.
 *
 * The model is Redis Streams': an append-only log per channel with entry ids `<ms>-<seq>`,
 * consumer groups with a last-delivered position, and a pending-entries list (PEL) per group
 * holding, for each delivered but unacknowledged entry, its consumer, idle time and delivery count.
 */
import type { EntryFields } from './envelope.js';

export type TransportKind = 'redis' | 'memory';

/** An entry read from a stream; `fields` is null when the entry was deleted while pending. */
export interface RawEntry {
  id: string;
  fields: EntryFields | null;
}

/** One row of a group's pending-entries list. */
export interface PendingEntry {
  id: string;
  consumer: string;
  idleMs: number;
  /** How many times the entry has been delivered (read or claimed), this delivery included. */
  deliveries: number;
}

/** What the dead-letter stream holds for one entry that could not be handled. */
export interface DeadLetter {
  /** Id of the dead-letter entry itself. */
  id: string;
  originalId: string;
  group: string;
  consumer: string;
  deliveries: number;
  error: string;
  /** The original entry's fields as written, whether or not they decode. */
  fields: EntryFields;
}

export interface GroupState {
  name: string;
  /** Entries delivered to the group and not yet acknowledged. */
  pending: number;
  /** Entries not yet delivered to the group. */
  lag: number;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Appends entries in order and returns their ids (strictly increasing within a channel). */
  append(channel: string, entries: EntryFields[]): Promise<string[]>;
  /** Number of entries in the channel's stream. */
  length(channel: string): Promise<number>;
  /** Groups of the channel with their pending count and lag. */
  groups(channel: string): Promise<GroupState[]>;
  /**
   * Records `groups` as declared consumers of the channel (the consumer groups the services'
   * manifests say read it), whether or not the groups exist yet. Idempotent; kept until undeclared.
   */
  declareGroups(channel: string, groups: string[]): Promise<void>;
  /** Forgets declared consumers (a service retired for good), so they no longer hold entries back. */
  undeclareGroups(channel: string, groups: string[]): Promise<void>;
  /** The declared consumer groups of the channel, sorted. */
  declaredGroups(channel: string): Promise<string[]>;
  /**
   * Deletes the entries every group has acknowledged (below each group's oldest pending entry
   * and at or below its last delivered id). A channel without groups is never trimmed, nor is a
   * channel with a declared group that does not exist yet: that group will read from the start.
   * Returns how many entries were deleted.
   */
  trim(channel: string): Promise<number>;
  /**
   * Keeps only the newest `maxLen` entries; for channels no group reads (nobody to wait for).
   * Deletes nothing when the channel has a declared group or any group. Returns how many went.
   */
  trimToLength(channel: string, maxLen: number): Promise<number>;
  /** The newest `count` dead letters of the channel, oldest first. */
  deadLetters(channel: string, count: number): Promise<DeadLetter[]>;
  /** Up to `count` dead letters with ids after `afterId` (exclusive; '0-0' = from the first), oldest first: for paging. */
  deadLettersAfter(channel: string, afterId: string, count: number): Promise<DeadLetter[]>;
  /** How many dead letters the channel holds. */
  deadLetterCount(channel: string): Promise<number>;
  /** One dead letter by its id, or null when there is none (never was, or replayed or discarded since). */
  readDeadLetter(channel: string, deadId: string): Promise<DeadLetter | null>;
  /**
   * Puts a dead letter back: appends the entry it holds (its fields exactly as written, under a
   * new id) to the channel and deletes the dead letter, in one atomic step that appends only if
   * the dead letter was still there. So a crash or a resent call can neither publish it twice nor
   * lose it. Returns the new entry id, or false when the dead letter was not there.
   */
  replayDeadLetter(channel: string, deadId: string): Promise<string | false>;
  /** Deletes a dead letter without publishing it; false when it was not there. */
  discardDeadLetter(channel: string, deadId: string): Promise<boolean>;
  /** A handle for one consumer of one group. */
  cursor(channel: string, group: string, consumer: string): GroupCursor;
  /** Closes connections; cursors opened from this transport stop working. */
  close(): Promise<void>;
}

export interface GroupCursor {
  /** Creates the group if it does not exist, positioned so the next read starts after `startId` ('0' = from the beginning). */
  ensureGroup(startId: string): Promise<void>;
  /** Delivers up to `count` entries new to the group to this consumer, waiting up to `blockMs` for some. */
  readNew(count: number, blockMs: number): Promise<RawEntry[]>;
  /** Pending entries idle for at least `minIdleMs`, of `consumer` only when given, oldest first. */
  pending(minIdleMs: number, count: number, consumer?: string): Promise<PendingEntry[]>;
  /**
   * Takes over the entries still idle for at least `minIdleMs` (another consumer may have
   * taken them first) and counts a delivery. Entries deleted meanwhile come back with null fields.
   */
  claim(ids: string[], minIdleMs: number): Promise<RawEntry[]>;
  /** Resets the idle time of entries this consumer is still working on, without counting a delivery. */
  touch(ids: string[]): Promise<void>;
  ack(ids: string[]): Promise<void>;
  /**
   * Acknowledges `ids` and appends `outputs` (entries for channels of the same transport) in one
   * atomic step, and appends only if at least one of `ids` was still pending. So a crash can
   * neither leave the outputs of an unacknowledged batch behind (its redelivery would publish them
   * again) nor acknowledge a batch whose outputs are missing, and a call repeated after its reply
   * was lost (ioredis resends unanswered commands when it reconnects) appends nothing twice.
   * Returns how many of `ids` this call acknowledged (0: nothing was appended).
   */
  ackAndAppend(ids: string[], outputs: ReadonlyArray<{ channel: string; entries: EntryFields[] }>): Promise<number>;
  /** Copies the entry with the reason to the channel's dead-letter stream and acknowledges it, atomically. */
  deadLetter(entry: RawEntry, error: string, deliveries: number): Promise<void>;
  /** Makes a `readNew` that is blocked waiting return at once with nothing. */
  interrupt(): void;
  close(): Promise<void>;
}
