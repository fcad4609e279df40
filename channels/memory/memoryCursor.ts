/**
 * One consumer of one group on an in-memory stream: the XREADGROUP `>`, XPENDING IDLE,
 * XCLAIM, XCLAIM JUSTID, XACK and dead-letter (XADD to the dead-letter stream + XACK, in one
 * transaction) primitives of Redis Streams, over the tables in schema.ts.
 *
 * A `readNew` with nothing to deliver waits for an append on its channel (the transport wakes
 * every waiter of a channel after each append), for its block time, for `interrupt()` or for the
 * transport to close. Like the Redis cursor, an interrupted cursor never waits again.
 */
import { ChannelError } from '../errors.js';
import type { EntryFields } from '../envelope.js';
import type { StreamId } from '../streamId.js';
import type { GroupCursor, PendingEntry, RawEntry } from '../transport.js';
import { SQL } from './schema.js';
import { formatId, toStreamId, type Sqlite } from './sqlite.js';

export type WakeReason = 'append' | 'timeout' | 'interrupt' | 'closed';
export type Waker = (why: WakeReason) => void;

/** What a cursor needs from its transport. */
export interface CursorHost {
  readonly db: Sqlite;
  /** The last id generated on the channel (0-0 when none), what '$' means. */
  lastId(channel: string): StreamId;
  nextDeadLetterId(channel: string): StreamId;
  /** Appends inside the caller's transaction (no wake-up). */
  insertEntries(channel: string, entries: EntryFields[]): string[];
  /** Wakes the readers waiting on a channel. */
  wake(channel: string): void;
  watch(channel: string, wake: Waker): void;
  unwatch(channel: string, wake: Waker): void;
}

interface EntryRow { ms: number; seq: number; fields: string }
interface PendingRow { ms: number; seq: number; consumer: string; delivered_at: number; deliveries: number }
interface GroupRow { last_ms: number; last_seq: number }

export class MemoryCursor implements GroupCursor {
  private interrupted = false;
  private readonly wakers = new Set<Waker>();

  constructor(
    private readonly host: CursorHost,
    private readonly channel: string,
    private readonly group: string,
    private readonly consumer: string,
  ) {}

  async ensureGroup(startId: string): Promise<void> {
    const db = this.db();
    const start = startId === '$' ? this.host.lastId(this.channel) : toStreamId(this.channel, /^\d+$/.test(startId) ? `${startId}-0` : startId);
    db.run(SQL.insertGroup, [this.channel, this.group, start.ms, start.seq]);
  }

  async readNew(count: number, blockMs: number): Promise<RawEntry[]> {
    const deadline = Date.now() + (this.interrupted ? 0 : Math.max(0, blockMs));
    for (;;) {
      const entries = this.deliverNew(count);
      if (entries.length > 0) return entries;
      const left = deadline - Date.now();
      if (left <= 0 || this.interrupted) return [];
      // Another consumer of the group may take what was appended: then wait for the rest of the time.
      if ((await this.waitForAppend(left)) !== 'append' || this.host.db.isClosed) return [];
    }
  }

  async pending(minIdleMs: number, count: number, consumer?: string): Promise<PendingEntry[]> {
    const db = this.db();
    this.groupPosition(db);
    if (!(count > 0)) return []; // as XPENDING with a count of 0
    const now = Date.now();
    const rows = db.all<PendingRow>(SQL.pendingIdle, [this.channel, this.group, now - minIdleMs, consumer ?? null, consumer ?? null, Math.floor(count)]);
    return rows.map((r) => ({ id: formatId(r.ms, r.seq), consumer: r.consumer, idleMs: Math.max(0, now - r.delivered_at), deliveries: r.deliveries }));
  }

  async claim(ids: string[], minIdleMs: number): Promise<RawEntry[]> {
    const db = this.db();
    this.groupPosition(db);
    const parsed = unique(ids).map((id) => ({ id, ...toStreamId(this.channel, id) }));
    const now = Date.now();
    return db.transaction(() => {
      const claimed: RawEntry[] = [];
      for (const { id, ms, seq } of parsed) {
        const key = [this.channel, this.group, ms, seq];
        const row = db.get<{ delivered_at: number }>(SQL.pendingOne, key);
        if (!row || now - row.delivered_at < minIdleMs) continue;
        const entry = db.get<{ fields: string }>(SQL.entryFields, [this.channel, ms, seq]);
        if (!entry) {
          db.run(SQL.deletePending, key); // deleted from the stream while pending (Redis 7)
          claimed.push({ id, fields: null });
          continue;
        }
        db.run(SQL.claimPending, [this.consumer, now, ...key]);
        claimed.push({ id, fields: JSON.parse(entry.fields) as EntryFields });
      }
      return claimed;
    });
  }

  async touch(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const db = this.db();
    this.groupPosition(db);
    const parsed = ids.map((id) => toStreamId(this.channel, id));
    const now = Date.now();
    db.transaction(() => {
      for (const { ms, seq } of parsed) db.run(SQL.touchPending, [now, this.channel, this.group, ms, seq, this.consumer]);
    });
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const db = this.db();
    const parsed = ids.map((id) => toStreamId(this.channel, id));
    db.transaction(() => {
      for (const { ms, seq } of parsed) db.run(SQL.deletePending, [this.channel, this.group, ms, seq]);
    });
  }

  async ackAndAppend(ids: string[], outputs: ReadonlyArray<{ channel: string; entries: EntryFields[] }>): Promise<number> {
    if (ids.length === 0) return 0;
    const db = this.db();
    for (const o of outputs) this.host.db.check(o.channel);
    const parsed = ids.map((id) => toStreamId(this.channel, id));
    const acked = db.transaction(() => {
      const n = parsed.reduce((sum, { ms, seq }) => sum + db.run(SQL.deletePending, [this.channel, this.group, ms, seq]), 0);
      if (n > 0) for (const { channel, entries } of outputs) if (entries.length > 0) this.host.insertEntries(channel, entries);
      return n;
    });
    if (acked > 0) for (const { channel, entries } of outputs) if (entries.length > 0) this.host.wake(channel);
    return acked;
  }

  async deadLetter(entry: RawEntry, error: string, deliveries: number): Promise<void> {
    const db = this.db();
    const { ms, seq } = toStreamId(this.channel, entry.id);
    db.transaction(() => {
      const dead = this.host.nextDeadLetterId(this.channel);
      db.run(SQL.insertDeadLetter, [
        this.channel, dead.ms, dead.seq, entry.id, this.group, this.consumer,
        deliveries, error, JSON.stringify(entry.fields ?? {}),
      ]);
      db.run(SQL.deletePending, [this.channel, this.group, ms, seq]);
    });
  }

  interrupt(): void {
    this.interrupted = true;
    for (const wake of [...this.wakers]) wake('interrupt');
  }

  async close(): Promise<void> {
    this.interrupt();
  }

  /** XREADGROUP `>` without blocking: moves the group's position and records the deliveries. */
  private deliverNew(count: number): RawEntry[] {
    const db = this.db();
    return db.transaction(() => {
      const from = this.groupPosition(db);
      const rows = db.all<EntryRow>(SQL.entriesAfter, [this.channel, from.last_ms, from.last_seq, limit(count)]);
      const last = rows[rows.length - 1];
      if (!last) return [];
      const now = Date.now();
      for (const r of rows) db.run(SQL.insertPending, [this.channel, this.group, r.ms, r.seq, this.consumer, now]);
      db.run(SQL.moveGroup, [last.ms, last.seq, this.channel, this.group]);
      return rows.map((r) => ({ id: formatId(r.ms, r.seq), fields: JSON.parse(r.fields) as EntryFields }));
    });
  }

  private waitForAppend(ms: number): Promise<WakeReason> {
    return new Promise((resolve) => {
      const wake: Waker = (why) => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        this.host.unwatch(this.channel, wake);
        resolve(why);
      };
      const timer = setTimeout(() => wake('timeout'), ms);
      this.wakers.add(wake);
      this.host.watch(this.channel, wake);
    });
  }

  private groupPosition(db: Sqlite): GroupRow {
    const row = db.get<GroupRow>(SQL.group, [this.channel, this.group]);
    if (!row) {
      throw new ChannelError(this.channel, `consumer group '${this.group}' does not exist; create it with ensureGroup() before reading`);
    }
    return row;
  }

  private db(): Sqlite {
    return this.host.db.check(this.channel);
  }
}

/** SQLite's LIMIT for XREADGROUP's COUNT: 0 or less means no limit, as in Redis. */
function limit(count: number): number {
  return count > 0 ? Math.floor(count) : -1;
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
