/**
 * The Channel contract, written once over a Transport: publish (validated, with backpressure),
 * consume (see consumer.ts), backlog, retention and dead letters. A channel is a named logical
 * stream such as `packets.raw`; which transport carries it is the caller's choice.
 */
import { encodeMessage, type EntryFields, type OutgoingMessage, DEFAULT_MAX_BODY_BYTES } from './envelope.js';
import { ChannelError, EnvelopeError } from './errors.js';
import { Consumer, type ConsumeOptions, type Handler } from './consumer.js';
import type { DeadLetter, GroupState, Transport } from './transport.js';
import { upcasters as defaultUpcasters, type Upcasters } from './upcasters.js';

export interface ChannelOptions {
  /** Publish waits while the unconsumed backlog is at or over this many entries. Default 10 000. */
  highWaterMark?: number;
  /** How long publish may wait for room before it fails with a ChannelError. Default: forever. */
  maxPublishWaitMs?: number;
  /** Largest serialised body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Registry consumers convert versions with. Default: the process-wide registry. */
  upcasters?: Upcasters;
  /** How often consumers trim what every group has acknowledged. Default 5 s; 0 turns retention off. */
  retentionIntervalMs?: number;
  /**
   * Called once each time a publish starts waiting at the high-water mark while a declared
   * consumer group does not exist yet (its service has never started): what holds the entries
   * is then a missing consumer, not a slow one, and the operator should hear of it.
   */
  onHeldByMissingGroups?: (info: { channel: string; backlog: number; missing: string[] }) => void;
}

/** What holds a channel's entries back: the backlog and the declared groups that do not exist yet. */
export interface Backlog {
  backlog: number;
  missing: string[];
}

const NAME_PATTERN = /^[a-z][a-z0-9_.-]{0,127}$/;

/** Whether `name` can name a channel (lower case letters, digits, '.', '_', '-'; starting with a letter). */
export function isChannelName(name: string): boolean {
  return NAME_PATTERN.test(name);
}
const BACKPRESSURE_POLL_MS = 25;
/** Even when far below the mark, look at the real backlog this often (other producers add to it). */
const BACKLOG_RECHECK_MS = 250;

export class Channel {
  readonly highWaterMark: number;
  readonly retentionIntervalMs: number;
  readonly upcasters: Upcasters;
  private readonly maxPublishWaitMs: number;
  private readonly maxBodyBytes: number;
  private readonly onHeldByMissingGroups: ChannelOptions['onHeldByMissingGroups'];
  private knownBacklog = 0;
  private publishedSinceCheck = 0;
  private checkedAt = 0;

  constructor(
    readonly transport: Transport,
    readonly name: string,
    options: ChannelOptions = {},
  ) {
    if (!NAME_PATTERN.test(name)) throw new ChannelError(name, 'is not a channel name (lower case letters, digits, ".", "_", "-"; starting with a letter)');
    this.highWaterMark = positive(name, 'highWaterMark', options.highWaterMark ?? 10_000);
    this.maxPublishWaitMs = positive(name, 'maxPublishWaitMs', options.maxPublishWaitMs ?? Infinity);
    this.maxBodyBytes = positive(name, 'maxBodyBytes', options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    this.retentionIntervalMs = nonNegative(name, 'retentionIntervalMs', options.retentionIntervalMs ?? 5_000);
    this.upcasters = options.upcasters ?? defaultUpcasters;
    this.onHeldByMissingGroups = options.onHeldByMissingGroups;
  }

  /** Publishes one message; resolves with its id once the transport has it. */
  async publish(message: OutgoingMessage): Promise<string> {
    const [id] = await this.publishMany([message]);
    return id!;
  }

  /** Publishes messages in order; validates all of them before writing any. */
  async publishMany(messages: OutgoingMessage[]): Promise<string[]> {
    const entries = await this.prepare(messages);
    const ids = await this.transport.append(this.name, entries);
    this.appended(ids.length);
    return ids;
  }

  /**
   * The first half of a publish, for a consumer that appends the entries itself together with
   * its acknowledgement (GroupCursor.ackAndAppend): validates and encodes every message, then
   * waits for room under the high-water mark. Call `appended` once they are written.
   */
  async prepare(messages: OutgoingMessage[]): Promise<EntryFields[]> {
    if (!Array.isArray(messages)) throw new EnvelopeError('messages', 'must be an array of messages');
    const now = Date.now();
    const entries: EntryFields[] = messages.map((m, i) => {
      try {
        return encodeMessage(m, now, this.maxBodyBytes);
      } catch (err) {
        if (err instanceof EnvelopeError && messages.length > 1) throw new EnvelopeError(`messages[${i}].${err.field}`, err.message.replace(/^envelope field '[^']*': /, ''));
        throw err;
      }
    });
    await this.waitForRoom();
    return entries;
  }

  /** The second half: counts what was written toward the backlog estimate and trims now and then. */
  appended(count: number): void {
    this.publishedSinceCheck += count;
    this.trimNowAndThen();
  }

  /** Starts a consumer; see ConsumeOptions for delivery, retry and dead-letter behaviour. */
  consume(options: ConsumeOptions, handler: Handler): Consumer {
    return new Consumer(this, options, handler);
  }

  /**
   * Unconsumed entries: the largest (undelivered + unacknowledged) over groups, declared ones
   * included: a declared group that does not exist yet will read the whole stream, so it counts
   * as the stream's length. A channel no group reads or is declared to read has nobody to wait
   * for (a notification stream such as state.changes, whose readers are live subscribers): its
   * backlog is 0 and retention keeps its newest entries.
   */
  async backlog(): Promise<number> {
    return (await this.backlogDetail()).backlog;
  }

  /** The backlog, and which declared groups do not exist yet (each holds the whole stream). */
  async backlogDetail(): Promise<Backlog> {
    const [declared, groups] = await Promise.all([this.transport.declaredGroups(this.name), this.transport.groups(this.name)]);
    const existing = new Set(groups.map((g) => g.name));
    const missing = declared.filter((name) => !existing.has(name));
    const counts = groups.map((g) => g.lag + g.pending);
    if (missing.length > 0) counts.push(await this.transport.length(this.name));
    return { backlog: counts.length === 0 ? 0 : Math.max(...counts), missing };
  }

  groups(): Promise<GroupState[]> {
    return this.transport.groups(this.name);
  }

  /**
   * Declares consumer groups of this channel (the services whose manifests consume it), so
   * that its entries are kept for them before they ever start: until such a group exists the
   * channel is not trimmed, and its whole length counts toward the backlog.
   */
  declareGroups(groups: string[]): Promise<void> {
    return this.transport.declareGroups(this.name, groups);
  }

  /** Forgets declared groups (a service retired for good), so they no longer hold entries back. */
  undeclareGroups(groups: string[]): Promise<void> {
    return this.transport.undeclareGroups(this.name, groups);
  }

  declaredGroups(): Promise<string[]> {
    return this.transport.declaredGroups(this.name);
  }

  length(): Promise<number> {
    return this.transport.length(this.name);
  }

  /**
   * Deletes what every group has acknowledged; returns how many entries went. Nothing goes while
   * a declared group does not exist yet. A channel without groups, declared or existing, keeps
   * its newest `highWaterMark` entries, for a group that may come (started from '0').
   */
  async trim(): Promise<number> {
    const [declared, groups] = await Promise.all([this.transport.declaredGroups(this.name), this.transport.groups(this.name)]);
    if (groups.length > 0 || declared.length > 0) return this.transport.trim(this.name);
    return this.highWaterMark === Infinity ? 0 : this.transport.trimToLength(this.name, this.highWaterMark);
  }

  // ---- dead letters (docs/channels.md, "Dead letters: list, replay, discard") ---------------

  /** The newest `count` dead letters, oldest first. */
  deadLetters(count = 100): Promise<DeadLetter[]> {
    return this.transport.deadLetters(this.name, count);
  }

  /** Up to `count` dead letters after `afterId` (exclusive), oldest first: page with the last id of the previous page. */
  deadLettersAfter(afterId = '0-0', count = 100): Promise<DeadLetter[]> {
    return this.transport.deadLettersAfter(this.name, afterId, count);
  }

  deadLetterCount(): Promise<number> {
    return this.transport.deadLetterCount(this.name);
  }

  /** One dead letter by its id; null when it is not (or no longer) there. */
  readDeadLetter(deadId: string): Promise<DeadLetter | null> {
    return this.transport.readDeadLetter(this.name, deadId);
  }

  /**
   * Puts a dead letter back into the channel, once the bug that killed it is fixed: its entry,
   * exactly as written (type, v, ts, key, body), is appended under a new id, and the dead letter
   * is deleted in the same atomic step. Every group of the channel receives it again (consumers
   * are idempotent). Returns the new id, or false when the dead letter is gone already (replayed
   * or discarded before): nothing is published then.
   *
   * Backpressure as for publish: it waits while the backlog is at or over the high-water mark,
   * and after `maxPublishWaitMs` fails with a ChannelError; the dead letter stays where it is.
   */
  async replayDeadLetter(deadId: string): Promise<string | false> {
    try {
      await this.waitForRoom();
    } catch (err) {
      if (!(err instanceof ChannelError)) throw err;
      throw new ChannelError(this.name, `dead letter ${deadId} not replayed (it stays in the dead-letter stream): ${err.message.replace(/^channel '[^']*': /, '')}`, { cause: err });
    }
    const id = await this.transport.replayDeadLetter(this.name, deadId);
    if (id !== false) this.appended(1);
    return id;
  }

  /** Deletes a dead letter without publishing it; false when it is gone already. */
  discardDeadLetter(deadId: string): Promise<boolean> {
    return this.transport.discardDeadLetter(this.name, deadId);
  }

  private trimmedAt = Date.now();

  /** Producers trim too: a channel nobody consumes has no consumer loop to do it. */
  private trimNowAndThen(): void {
    if (this.retentionIntervalMs === 0 || Date.now() - this.trimmedAt < this.retentionIntervalMs) return;
    this.trimmedAt = Date.now();
    this.trim().catch(() => undefined); // best effort: the next interval tries again
  }

  private async waitForRoom(): Promise<void> {
    if (this.highWaterMark === Infinity) return;
    const fresh = Date.now() - this.checkedAt < BACKLOG_RECHECK_MS;
    if (fresh && this.knownBacklog + this.publishedSinceCheck < this.highWaterMark) return;
    const started = Date.now();
    let told = false;
    for (;;) {
      const { backlog, missing } = await this.backlogDetail();
      this.knownBacklog = backlog;
      this.publishedSinceCheck = 0;
      this.checkedAt = Date.now();
      if (this.knownBacklog < this.highWaterMark) return;
      if (missing.length > 0 && !told) {
        told = true;
        this.onHeldByMissingGroups?.({ channel: this.name, backlog, missing });
      }
      if (Date.now() - started >= this.maxPublishWaitMs) {
        const why = missing.length > 0 ? `declared consumer group(s) ${missing.join(', ')} do not exist yet (their service has not started), so every entry is kept for them` : 'consumers are not keeping up';
        throw new ChannelError(this.name, `backlog of ${this.knownBacklog} stayed at or over the high-water mark ${this.highWaterMark} for ${this.maxPublishWaitMs} ms; ${why}`);
      }
      await new Promise((r) => setTimeout(r, BACKPRESSURE_POLL_MS));
    }
  }
}

function positive(channel: string, option: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) throw new ChannelError(channel, `option ${option} must be a positive number, got ${JSON.stringify(value)}`);
  return value;
}

function nonNegative(channel: string, option: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) throw new ChannelError(channel, `option ${option} must be zero or a positive number, got ${JSON.stringify(value)}`);
  return value;
}
