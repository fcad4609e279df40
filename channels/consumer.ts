/**
 * A consumer: one member of a consumer group, reading a channel in a loop.
 *
 * Delivery is at-least-once, and the loop keeps these promises:
 * - entries are acknowledged only after the handler resolved for them;
 * - on start it first re-reads its own pending entries (what a crash left behind under the
 *   same, stable consumer name), then reads new ones;
 * - entries another consumer left idle longer than `claimIdleMs` are claimed (that consumer
 *   died); while a handler runs, its entries are touched so they never look idle;
 * - a failed batch is retried entry by entry, so one poison message cannot hold back the others;
 *   a failed entry is retried after `retryDelayMs`; one delivered `maxDeliveries` times goes to
 *   the dead-letter stream with the last error; one that cannot be decoded or converted to the
 *   wanted version goes there at once, since retrying cannot help;
 * - stop() stops fetching, lets the batch in hand finish and be acknowledged, then resolves.
 */
import { CHILD_ID_RULE, isChildId } from '../core/ids.js';
import { backoff } from '../core/backoff.js';
import type { Channel } from './channel.js';
import { decodeEntry, type EntryFields, type Envelope, type OutgoingMessage } from './envelope.js';
import { reasonOf } from '../core/errors.js';
import { ChannelError } from './errors.js';
import type { GroupCursor, RawEntry } from './transport.js';

export interface ConsumeOptions {
  group: string;
  /** Stable per supervised child, so a restart finds its own pending entries. */
  consumer: string;
  /** Entries per handler call. Default 100. */
  batchSize?: number;
  /** How long one read waits for new entries. Default 1000 ms. */
  blockMs?: number;
  /** Deliveries before an entry is dead-lettered. Default 5. */
  maxDeliveries?: number;
  /** Wait before a failed entry is retried. Default 1000 ms. */
  retryDelayMs?: number;
  /** Idle time after which another consumer's entry is claimed. Must exceed the longest handling time. Default 30 s. */
  claimIdleMs?: number;
  /** Where a new group starts: '0' (everything in the stream, the default) or an entry id. */
  startId?: string;
  /** The schema version wanted per type; other versions are converted by the channel's upcasters. */
  versions?: Record<string, number>;
  /** Background errors (transport down, dead-letter failures). Default: a JSON line on stderr. */
  onError?: (err: unknown) => void;
}

export interface HandlerContext {
  channel: string;
  group: string;
  consumer: string;
  /**
   * Marks an entry of this batch as one that can never be handled (failed authentication, a
   * malformed frame): when the handler resolves it goes to the dead-letter stream with the
   * reason instead of being acknowledged. Retrying such an entry would only delay that.
   */
  deadLetter(id: string, reason: string): void;
  /**
   * Messages to publish when this batch is acknowledged (the service runtime hands a handler's
   * emits here). Those for channels on the consumed channel's transport are appended atomically
   * with the acknowledgement (GroupCursor.ackAndAppend): a crash leaves either both or neither,
   * so a redelivered batch never publishes its outputs twice. Those for another transport are
   * published just before the acknowledgement (at-least-once). Nothing is published if the
   * handler fails.
   */
  publishOnAck(channel: Channel, messages: OutgoingMessage[]): void;
}

/** Messages a handler asked to publish with the acknowledgement of its batch. */
interface Output {
  channel: Channel;
  messages: OutgoingMessage[];
}

export type Handler = (batch: Envelope[], ctx: HandlerContext) => Promise<void> | void;

export interface ConsumerStats {
  handled: number;
  acked: number;
  failed: number;
  deadLettered: number;
  claimed: number;
}

/** A raw entry with the delivery count it has now. */
interface Delivery {
  entry: RawEntry;
  deliveries: number;
}

export class Consumer {
  /** Resolves once the group exists and this consumer's own pending entries have been handled. */
  readonly ready: Promise<void>;
  /** Resolves when the loop has ended (after stop or abandon). */
  readonly done: Promise<void>;
  readonly stats: ConsumerStats = { handled: 0, acked: 0, failed: 0, deadLettered: 0, claimed: 0 };

  private readonly cursor: GroupCursor;
  private readonly opts: Required<Omit<ConsumeOptions, 'versions' | 'onError'>> & Pick<ConsumeOptions, 'versions'>;
  private readonly onError: (err: unknown) => void;
  private readonly ctx: Omit<HandlerContext, 'deadLetter' | 'publishOnAck'>;
  private readonly failures = new Map<string, string>();
  private stopping = false;
  private abandoned = false;
  private nextRetryAt = Infinity;
  private nextClaimAt = 0;
  private nextTrimAt = 0;
  private markReady!: () => void;
  /** Keeps the batch in hand from looking idle to other consumers' claim passes. */
  private toucher: NodeJS.Timeout | undefined;

  constructor(
    private readonly channel: Channel,
    options: ConsumeOptions,
    private readonly handler: Handler,
  ) {
    this.opts = validate(channel.name, options);
    this.onError = options.onError ?? ((err) => process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'channels', channel: channel.name, group: options.group, consumer: options.consumer, err: reasonOf(err) })}\n`));
    this.ctx = { channel: channel.name, group: this.opts.group, consumer: this.opts.consumer };
    this.cursor = channel.transport.cursor(channel.name, this.opts.group, this.opts.consumer);
    let failReady!: (err: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      failReady = reject;
    });
    this.ready.catch(() => undefined);
    this.done = this.run().catch((err) => {
      failReady(err);
      throw err;
    });
    this.done.catch(() => undefined);
  }

  /** Stops fetching, finishes and acknowledges the batch in hand, then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cursor.interrupt();
    await this.done.catch(() => undefined);
    await this.cursor.close();
  }

  /**
   * Stops at once without acknowledging the batch in hand: what a crash leaves behind. Its
   * entries stay pending under this consumer's name, for a restart or another consumer.
   */
  async abandon(): Promise<void> {
    this.abandoned = true;
    this.stopping = true;
    clearInterval(this.toucher);
    // Not waiting for `done`: a crashed consumer's handler may never return.
    this.cursor.interrupt();
    await this.cursor.close();
  }

  // ---- the loop ----------------------------------------------------------------------------

  private async run(): Promise<void> {
    await this.cursor.ensureGroup(this.opts.startId);
    await this.recover(this.opts.consumer, 0);
    this.markReady();
    let failures = 0;
    let recoverOwn = false;
    while (!this.stopping) {
      try {
        if (recoverOwn) {
          await this.recover(this.opts.consumer, 0);
          recoverOwn = false;
        }
        await this.housekeeping();
        const wait = Math.max(0, Math.min(this.opts.blockMs, this.nextRetryAt - Date.now(), this.nextClaimAt - Date.now()));
        const entries = await this.cursor.readNew(this.opts.batchSize, wait);
        if (entries.length > 0) await this.process(entries.map((entry) => ({ entry, deliveries: 1 })));
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        this.onError(err);
        // After a failed read we cannot know what was delivered to us: re-read our own pending.
        recoverOwn = true;
        await new Promise((r) => setTimeout(r, backoff(failures++, { baseMs: 100, maxMs: 5_000 })));
      }
    }
  }

  private async housekeeping(): Promise<void> {
    const now = Date.now();
    if (now >= this.nextRetryAt) {
      this.nextRetryAt = Infinity;
      await this.recover(this.opts.consumer, this.opts.retryDelayMs);
    }
    if (now >= this.nextClaimAt) {
      this.nextClaimAt = now + Math.max(50, this.opts.claimIdleMs / 2);
      await this.recover(undefined, this.opts.claimIdleMs);
    }
    if (this.channel.retentionIntervalMs > 0 && now >= this.nextTrimAt) {
      this.nextTrimAt = now + this.channel.retentionIntervalMs;
      await this.channel.trim();
    }
  }

  /**
   * Takes over pending entries idle at least `minIdleMs` (of `consumer`, or of anyone) and
   * handles them; those already delivered `maxDeliveries` times are dead-lettered instead.
   */
  private async recover(consumer: string | undefined, minIdleMs: number): Promise<void> {
    const seen = new Set<string>();
    while (!this.stopping) {
      const page = (await this.cursor.pending(minIdleMs, this.opts.batchSize, consumer)).filter((p) => !seen.has(p.id));
      if (page.length === 0) return;
      page.forEach((p) => seen.add(p.id));
      const claimed = await this.cursor.claim(page.map((p) => p.id), minIdleMs);
      const info = new Map(page.map((p) => [p.id, p]));
      const toHandle: Delivery[] = [];
      for (const entry of claimed) {
        const before = info.get(entry.id)!;
        if (before.consumer !== this.opts.consumer) this.stats.claimed++;
        if (before.deliveries >= this.opts.maxDeliveries) {
          const reason = this.failures.get(entry.id) ?? `delivered ${before.deliveries} times without being acknowledged (last consumer ${before.consumer})`;
          await this.deadLetter({ entry, deliveries: before.deliveries }, reason);
        } else {
          toHandle.push({ entry, deliveries: before.deliveries + 1 });
        }
      }
      if (toHandle.length > 0) await this.process(toHandle);
    }
  }

  // ---- handling ----------------------------------------------------------------------------

  private async process(deliveries: Delivery[]): Promise<void> {
    const batch: Array<{ env: Envelope; delivery: Delivery }> = [];
    for (const d of deliveries) {
      if (d.entry.fields === null) {
        await this.ack([d.entry.id]); // deleted from the stream while pending: nothing to handle
        continue;
      }
      try {
        batch.push({ env: this.convert(decodeEntry(d.entry.id, d.entry.fields)), delivery: d });
      } catch (err) {
        await this.deadLetter(d, `undecodable entry: ${reasonOf(err)}`);
      }
    }
    if (batch.length === 0) return;
    const ids = batch.map((b) => b.env.id);
    const deliveryOf = new Map(batch.map((b) => [b.env.id, b.delivery]));
    this.toucher = setInterval(() => this.cursor.touch(ids).catch(this.onError), Math.max(50, this.opts.claimIdleMs / 3));
    try {
      const rejected = new Map<string, string>();
      const outputs: Output[] = [];
      const batchError = await this.attempt(batch.map((b) => b.env), rejected, outputs);
      if (batchError === null) return await this.succeeded(ids, rejected, deliveryOf, outputs);
      // Isolate the poison: retry each entry alone, acknowledge those that pass.
      for (const { env, delivery } of batch) {
        if (this.abandoned) return;
        const alone = new Map<string, string>();
        const aloneOutputs: Output[] = [];
        const error = batch.length > 1 ? await this.attempt([env], alone, aloneOutputs) : batchError;
        if (error === null) await this.succeeded([env.id], alone, deliveryOf, aloneOutputs);
        else await this.failed(delivery, error);
      }
    } finally {
      clearInterval(this.toucher);
    }
  }

  /** Runs the handler; null when it succeeded, else the reason it failed. */
  private async attempt(envs: Envelope[], rejected: Map<string, string>, outputs: Output[]): Promise<string | null> {
    const inBatch = new Set(envs.map((e) => e.id));
    const ctx: HandlerContext = {
      ...this.ctx,
      deadLetter: (id, reason) => {
        if (!inBatch.has(id)) throw new ChannelError(this.channel.name, `deadLetter: entry ${id} is not in the batch being handled`);
        rejected.set(id, reason);
      },
      publishOnAck: (channel, messages) => {
        if (messages.length > 0) outputs.push({ channel, messages });
      },
    };
    try {
      await this.handler(envs, ctx);
      return null;
    } catch (err) {
      return reasonOf(err);
    }
  }

  private async succeeded(ids: string[], rejected: Map<string, string>, deliveryOf: Map<string, Delivery>, outputs: Output[]): Promise<void> {
    if (this.abandoned) return;
    for (const [id, reason] of rejected) await this.deadLetter(deliveryOf.get(id)!, reason);
    const done = ids.filter((id) => !rejected.has(id));
    await this.ackWithOutputs(done, outputs);
    this.stats.handled += done.length;
    for (const id of ids) this.failures.delete(id);
  }

  private async failed(d: Delivery, reason: string): Promise<void> {
    if (this.abandoned) return;
    this.stats.failed++;
    if (d.deliveries >= this.opts.maxDeliveries) return this.deadLetter(d, reason);
    this.failures.set(d.entry.id, reason);
    this.nextRetryAt = Math.min(this.nextRetryAt, Date.now() + this.opts.retryDelayMs);
  }

  /** Acknowledges `ids` and publishes the batch's outputs: atomically where they share the transport. */
  private async ackWithOutputs(ids: string[], outputs: Output[]): Promise<void> {
    const together = ids.length > 0 ? outputs.filter((o) => o.channel.transport === this.channel.transport) : [];
    // What cannot share the acknowledgement goes first: a crash in between repeats it, never loses it.
    for (const o of outputs) if (!together.includes(o)) await o.channel.publishMany(o.messages);
    if (together.length === 0) return this.ack(ids);
    const prepared: Array<{ channel: Channel; entries: EntryFields[] }> = [];
    for (const o of together) prepared.push({ channel: o.channel, entries: await o.channel.prepare(o.messages) });
    // 0 acknowledged: the batch was acknowledged before (a resent call) and its outputs are out already.
    const acked = await this.cursor.ackAndAppend(ids, prepared.map((p) => ({ channel: p.channel.name, entries: p.entries })));
    if (acked > 0) for (const p of prepared) p.channel.appended(p.entries.length);
    this.stats.acked += ids.length;
  }

  private async ack(ids: string[]): Promise<void> {
    await this.cursor.ack(ids);
    this.stats.acked += ids.length;
  }

  private async deadLetter(d: Delivery, reason: string): Promise<void> {
    await this.cursor.deadLetter(d.entry, reason, d.deliveries);
    this.failures.delete(d.entry.id);
    this.stats.deadLettered++;
  }

  private convert(env: Envelope): Envelope {
    const wanted = this.opts.versions?.[env.type];
    return wanted === undefined ? env : this.channel.upcasters.convert(env, wanted);
  }
}

function validate(channel: string, o: ConsumeOptions): Consumer['opts'] {
  // A group is a service's name and a consumer an instance's child id: both follow the child-id rule.
  if (!isChildId(o.group)) throw new ChannelError(channel, `consume option group ${JSON.stringify(o.group)} is not a group name (${CHILD_ID_RULE})`);
  if (!isChildId(o.consumer)) throw new ChannelError(channel, `consume option consumer ${JSON.stringify(o.consumer)} is not a consumer name (${CHILD_ID_RULE})`);
  const int = (option: string, value: number | undefined, fallback: number, min: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min) throw new ChannelError(channel, `consume option ${option} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
    return v;
  };
  return {
    group: o.group,
    consumer: o.consumer,
    batchSize: int('batchSize', o.batchSize, 100, 1),
    blockMs: int('blockMs', o.blockMs, 1_000, 0),
    maxDeliveries: int('maxDeliveries', o.maxDeliveries, 5, 1),
    retryDelayMs: int('retryDelayMs', o.retryDelayMs, 1_000, 0),
    claimIdleMs: int('claimIdleMs', o.claimIdleMs, 30_000, 1),
    startId: o.startId ?? '0',
    versions: o.versions,
  };
}
