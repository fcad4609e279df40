/**
 * One consumer of one group on a Redis stream: XREADGROUP, XPENDING, XCLAIM, XACK, and the
 * dead-letter move (XADD to `<stream>:dead` + XACK in one MULTI).
 *
 * Traps handled here (docs/architecture.md, Traps):
 * - blocking reads run on their own connection, which has no command timeout that would kill
 *   them; a watchdog drops a read that hangs well past its block time (seen after reconnects);
 * - a stop interrupts a blocked read with CLIENT UNBLOCK instead of dropping the connection,
 *   so nothing delivered in flight is left behind;
 * - NOGROUP (the group vanished, e.g. Redis restarted without its data) recreates the group from
 *   the last id this consumer acknowledged, never from `$`, which would skip unhandled entries.
 */
import { Redis } from 'ioredis';
import { ChannelError } from '../errors.js';
import type { EntryFields } from '../envelope.js';
import { compareStreamIds } from '../streamId.js';
import { ACK_AND_APPEND } from './ackAndAppend.js';
import { quitOrDrop } from './quitOrDrop.js';
import type { GroupCursor, PendingEntry, RawEntry } from '../transport.js';

type XEntry = [string, string[] | null];

export class RedisCursor implements GroupCursor {
  private blocking: Redis | null = null;
  private blockingId: number | null = null;
  private reading = false;
  private interrupted = false;
  private lastAckedId = '0';
  /** Times the blocking connection closed; a read that spans a close may have lost a delivery. */
  private closes = 0;

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
    private readonly key: string,
    private readonly deadKey: string,
    private readonly group: string,
    private readonly consumer: string,
    /** The stream key of another channel of the same transport (for ackAndAppend's outputs). */
    private readonly keyOf: (channel: string) => string,
    /** The dead-letter stream's MAXLEN (exact: dead letters are rare, the trim is cheap). */
    private readonly deadLetterMaxLen = 100_000,
  ) {}

  async ensureGroup(startId: string): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.key, this.group, startId, 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  async readNew(count: number, blockMs: number): Promise<RawEntry[]> {
    if (this.interrupted) blockMs = 0;
    const conn = await this.blockingConnection();
    const closesBefore = this.closes;
    this.reading = true;
    let watchdog: NodeJS.Timeout | undefined;
    try {
      const args: Array<string | number> = ['GROUP', this.group, this.consumer, 'COUNT', count];
      if (blockMs > 0) args.push('BLOCK', blockMs);
      args.push('STREAMS', this.key, '>');
      const read = this.withGroup(() => conn.call('XREADGROUP', ...args) as Promise<Array<[string, XEntry[]]> | null>);
      const hung = new Promise<never>((_, reject) => {
        watchdog = setTimeout(() => {
          // The connection is replaced; whatever the hung read had delivered stays pending
          // under this consumer's name and is re-read by the consumer's own-pending pass.
          conn.disconnect(true);
          reject(new ChannelError(this.channel, `XREADGROUP did not return within ${blockMs + 10_000} ms; reconnected`));
        }, blockMs + 10_000);
      });
      const reply = await Promise.race([read, hung]);
      // The connection dropped while the read was out: Redis may have delivered entries whose
      // reply was lost (they are pending under this consumer now), and the answer in hand is
      // ioredis's resent read, which never returns those. Failing the read makes the consumer
      // re-read its own pending entries (these and the ones in hand) instead of leaving the
      // lost ones to the claim janitor, claimIdleMs later.
      if (this.closes !== closesBefore) throw new ChannelError(this.channel, 'the connection dropped during XREADGROUP; re-reading the pending entries');
      return reply ? toEntries(reply[0]?.[1] ?? []) : [];
    } finally {
      clearTimeout(watchdog);
      this.reading = false;
    }
  }

  async pending(minIdleMs: number, count: number, consumer?: string): Promise<PendingEntry[]> {
    const args: Array<string | number> = [this.key, this.group, 'IDLE', minIdleMs, '-', '+', count];
    if (consumer !== undefined) args.push(consumer);
    const rows = (await this.withGroup(() => this.redis.call('XPENDING', ...args))) as Array<[string, string, number, number]>;
    return rows.map(([id, owner, idleMs, deliveries]) => ({ id, consumer: owner, idleMs: Number(idleMs), deliveries: Number(deliveries) }));
  }

  async claim(ids: string[], minIdleMs: number): Promise<RawEntry[]> {
    if (ids.length === 0) return [];
    // Redis 7 drops entries deleted from the stream from the PEL during XCLAIM and omits them.
    const rows = (await this.withGroup(() => this.redis.call('XCLAIM', this.key, this.group, this.consumer, minIdleMs, ...ids))) as XEntry[];
    return toEntries(rows);
  }

  async touch(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // XCLAIM would take an entry back from a consumer that claimed it meanwhile: touch only
    // what is still ours. JUSTID resets the idle time without counting a delivery.
    const sorted = [...ids].sort(compareStreamIds);
    const ours = (await this.withGroup(() => this.redis.call('XPENDING', this.key, this.group, sorted[0]!, sorted[sorted.length - 1]!, ids.length, this.consumer))) as Array<[string]>;
    const wanted = new Set(ids);
    const mine = ours.map(([id]) => id).filter((id) => wanted.has(id));
    if (mine.length > 0) await this.redis.call('XCLAIM', this.key, this.group, this.consumer, 0, ...mine, 'JUSTID');
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.xack(this.key, this.group, ...ids);
    this.noteAcked(ids);
  }

  async ackAndAppend(ids: string[], outputs: ReadonlyArray<{ channel: string; entries: EntryFields[] }>): Promise<number> {
    if (ids.length === 0) return 0;
    const keys = [this.key];
    const args: string[] = [this.group, String(ids.length), ...ids];
    for (const { channel, entries } of outputs) {
      if (entries.length === 0) continue;
      keys.push(this.keyOf(channel));
      for (const fields of entries) {
        const flat = Object.entries(fields).flat();
        args.push(String(keys.length), String(flat.length), ...flat);
      }
    }
    const acked = Number(await this.redis.eval(ACK_AND_APPEND, keys.length, ...keys, ...args));
    this.noteAcked(ids);
    return acked;
  }

  async deadLetter(entry: RawEntry, error: string, deliveries: number): Promise<void> {
    const results = await this.redis
      .multi()
      .xadd(this.deadKey, 'MAXLEN', String(this.deadLetterMaxLen), '*',
        'originalId', entry.id, 'group', this.group, 'consumer', this.consumer,
        'deliveries', String(deliveries), 'error', error, 'fields', JSON.stringify(entry.fields ?? {}))
      .xack(this.key, this.group, entry.id)
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new ChannelError(this.channel, `could not dead-letter ${entry.id}: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    this.noteAcked([entry.id]);
  }

  interrupt(): void {
    this.interrupted = true;
    if (this.reading && this.blockingId !== null) {
      this.redis.call('CLIENT', 'UNBLOCK', this.blockingId).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.interrupt();
    const conn = this.blocking;
    this.blocking = null;
    if (conn) await quitOrDrop(conn);
  }

  private async blockingConnection(): Promise<Redis> {
    if (this.blocking) return this.blocking;
    // Named, so CLIENT LIST shows which consumer a blocked connection belongs to.
    const connectionName = `${this.key}/${this.group}/${this.consumer}`.replace(/\s/g, '_');
    const conn = this.redis.duplicate({ commandTimeout: undefined, maxRetriesPerRequest: null, lazyConnect: true, connectionName });
    conn.on('error', () => undefined); // reconnects on its own; reads surface their own errors
    conn.on('close', () => this.closes++);
    conn.on('ready', () => {
      conn.client('ID').then((id) => (this.blockingId = Number(id)), () => (this.blockingId = null));
    });
    this.blocking = conn;
    await conn.connect();
    this.blockingId = Number(await conn.client('ID'));
    return conn;
  }

  private noteAcked(ids: string[]): void {
    for (const id of ids) if (compareStreamIds(id, this.lastAckedId === '0' ? '0-0' : this.lastAckedId) > 0) this.lastAckedId = id;
  }

  private async withGroup<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!/NOGROUP/.test((err as Error).message)) throw err;
      await this.ensureGroup(this.lastAckedId);
      return op();
    }
  }
}

function toEntries(rows: XEntry[]): RawEntry[] {
  return rows.map(([id, flat]) => ({ id, fields: flat ? toFields(flat) : null }));
}

function toFields(flat: string[]): EntryFields {
  const fields: EntryFields = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}
