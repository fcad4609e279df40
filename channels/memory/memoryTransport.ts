/**
 * The in-memory transport: Redis Streams consumer-group semantics over a sql.js (SQLite in
 * WebAssembly) in-memory database, for one process (fused stages, tests, ephemeral work).
 * Each transport has its own database, so two transports never share data. Dead letters live
 * in their own table, keyed by channel, with their own monotonic ids.
 */
import { ChannelError } from '../errors.js';
import type { EntryFields } from '../envelope.js';
import { MonotonicIds, parseStreamId, type StreamId } from '../streamId.js';
import type { DeadLetter, GroupCursor, GroupState, Transport } from '../transport.js';
import { MemoryCursor, type CursorHost, type Waker } from './memoryCursor.js';
import { SCHEMA, SQL } from './schema.js';
import { formatId, Sqlite, toStreamId } from './sqlite.js';

export async function createMemoryTransport(): Promise<Transport> {
  return new MemoryTransport(await Sqlite.open(SCHEMA));
}

interface GroupStateRow { name: string; last_ms: number; last_seq: number; pending: number; lag: number }
interface DeadLetterRow {
  ms: number; seq: number; original_id: string; grp: string; consumer: string;
  deliveries: number; error: string; fields: string;
}

export class MemoryTransport implements Transport, CursorHost {
  readonly kind = 'memory' as const;
  private readonly ids = new Map<string, MonotonicIds>();
  private readonly lastIds = new Map<string, StreamId>();
  private readonly deadIds = new Map<string, MonotonicIds>();
  private readonly waiters = new Map<string, Set<Waker>>();

  constructor(readonly db: Sqlite) {}

  async append(channel: string, entries: EntryFields[]): Promise<string[]> {
    const db = this.db.check(channel);
    entries.forEach((fields, i) => {
      if (fields === null || typeof fields !== 'object' || Object.keys(fields).length === 0) {
        throw new ChannelError(channel, `entry ${i} has no fields; a stream entry needs at least one field`);
      }
    });
    if (entries.length === 0) return [];
    const ids = db.transaction(() => this.insertEntries(channel, entries));
    this.wake(channel);
    return ids;
  }

  async length(channel: string): Promise<number> {
    return this.db.check(channel).get<{ n: number }>(SQL.countEntries, [channel])?.n ?? 0;
  }

  async groups(channel: string): Promise<GroupState[]> {
    const rows = this.db.check(channel).all<GroupStateRow>(SQL.groupStates, [channel]);
    return rows.map(({ name, pending, lag }) => ({ name, pending, lag }));
  }

  async declareGroups(channel: string, groups: string[]): Promise<void> {
    const db = this.db.check(channel);
    db.transaction(() => groups.forEach((name) => db.run(SQL.declareGroup, [channel, name])));
  }

  async undeclareGroups(channel: string, groups: string[]): Promise<void> {
    const db = this.db.check(channel);
    db.transaction(() => groups.forEach((name) => db.run(SQL.undeclareGroup, [channel, name])));
  }

  async declaredGroups(channel: string): Promise<string[]> {
    return this.db.check(channel).all<{ name: string }>(SQL.declaredGroups, [channel]).map((r) => r.name);
  }

  async trim(channel: string): Promise<number> {
    const db = this.db.check(channel);
    return db.transaction(() => {
      // A declared group not created yet will read from the start: it holds every entry back.
      if ((db.get<{ n: number }>(SQL.missingDeclaredGroups, [channel])?.n ?? 0) > 0) return 0;
      // A group has acknowledged everything below its oldest pending entry and everything up
      // to its last delivered id: its floor is the lower of the two. Keep every group's floor.
      let floor: StreamId | null = null;
      for (const g of db.all<GroupStateRow>(SQL.groupStates, [channel])) {
        const afterLast = { ms: g.last_ms, seq: g.last_seq + 1 };
        const oldest = db.get<StreamId>(SQL.oldestPending, [channel, g.name]);
        const groupFloor = oldest && before(oldest, afterLast) ? oldest : afterLast;
        if (floor === null || before(groupFloor, floor)) floor = groupFloor;
      }
      return floor === null ? 0 : db.run(SQL.deleteEntriesBelow, [channel, floor.ms, floor.seq]);
    });
  }

  async trimToLength(channel: string, maxLen: number): Promise<number> {
    const db = this.db.check(channel);
    return db.transaction(() => {
      if ((db.get<{ n: number }>(SQL.readerCount, [channel])?.n ?? 0) > 0) return 0; // someone has to read them
      const oldestKept = db.get<StreamId>(SQL.nthNewest, [channel, Math.max(0, maxLen - 1)]);
      if (!oldestKept || maxLen < 1) return maxLen < 1 ? db.run(SQL.deleteEntriesBelow, [channel, Number.MAX_SAFE_INTEGER, 0]) : 0;
      return db.run(SQL.deleteEntriesBelow, [channel, oldestKept.ms, oldestKept.seq]);
    });
  }

  async deadLetters(channel: string, count: number): Promise<DeadLetter[]> {
    const db = this.db.check(channel);
    if (!(count > 0)) return []; // as XREVRANGE COUNT 0
    return db.all<DeadLetterRow>(SQL.newestDeadLetters, [channel, Math.floor(count)]).reverse().map(toDeadLetter);
  }

  async deadLettersAfter(channel: string, afterId: string, count: number): Promise<DeadLetter[]> {
    const db = this.db.check(channel);
    const after = toStreamId(channel, afterId);
    if (!(count > 0)) return [];
    return db.all<DeadLetterRow>(SQL.deadLettersAfter, [channel, after.ms, after.seq, Math.floor(count)]).map(toDeadLetter);
  }

  async deadLetterCount(channel: string): Promise<number> {
    return this.db.check(channel).get<{ n: number }>(SQL.countDeadLetters, [channel])?.n ?? 0;
  }

  async readDeadLetter(channel: string, deadId: string): Promise<DeadLetter | null> {
    const db = this.db.check(channel);
    const { ms, seq } = toStreamId(channel, deadId);
    const row = db.get<DeadLetterRow>(SQL.deadLetter, [channel, ms, seq]);
    return row ? toDeadLetter(row) : null;
  }

  async replayDeadLetter(channel: string, deadId: string): Promise<string | false> {
    const db = this.db.check(channel);
    const { ms, seq } = toStreamId(channel, deadId);
    // One transaction: the dead letter goes exactly when its entry is appended (sql.js is
    // synchronous, so nothing else in the process runs in between either).
    const id = db.transaction(() => {
      const row = db.get<DeadLetterRow>(SQL.deadLetter, [channel, ms, seq]);
      if (!row) return false;
      const fields = JSON.parse(row.fields) as EntryFields;
      if (Object.keys(fields).length === 0) throw new ChannelError(channel, `dead letter ${deadId} holds no entry fields, so there is nothing to replay; discard it instead`);
      db.run(SQL.deleteDeadLetter, [channel, ms, seq]);
      return this.insertEntries(channel, [fields])[0]!;
    });
    if (id !== false) this.wake(channel);
    return id;
  }

  async discardDeadLetter(channel: string, deadId: string): Promise<boolean> {
    const db = this.db.check(channel);
    const { ms, seq } = toStreamId(channel, deadId);
    return db.run(SQL.deleteDeadLetter, [channel, ms, seq]) > 0;
  }

  cursor(channel: string, group: string, consumer: string): GroupCursor {
    this.db.check(channel);
    return new MemoryCursor(this, channel, group, consumer);
  }

  /**
   * Deletes entries by id, leaving pending lists alone (XDEL): what a trim by another process
   * would do to a Redis stream. Not part of Transport; tests use it. Returns how many existed.
   */
  async deleteEntries(channel: string, ids: string[]): Promise<number> {
    const db = this.db.check(channel);
    const parsed = ids.map((id) => toStreamId(channel, id));
    return db.transaction(() => parsed.reduce((n, { ms, seq }) => n + db.run(SQL.deleteEntry, [channel, ms, seq]), 0));
  }

  async close(): Promise<void> {
    if (this.db.isClosed) return;
    this.db.close();
    for (const channel of [...this.waiters.keys()]) this.wake(channel, 'closed');
  }

  // ---- CursorHost --------------------------------------------------------------------------

  /** Inserts entries inside the caller's transaction; the caller wakes the channel's readers after it. */
  insertEntries(channel: string, entries: EntryFields[]): string[] {
    const gen = this.generator(this.ids, channel);
    return entries.map((fields) => {
      const id = parseStreamId(gen.next());
      this.db.run(SQL.insertEntry, [channel, id.ms, id.seq, JSON.stringify(fields)]);
      this.lastIds.set(channel, id);
      return formatId(id.ms, id.seq);
    });
  }

  lastId(channel: string): StreamId {
    return this.lastIds.get(channel) ?? { ms: 0, seq: 0 };
  }

  nextDeadLetterId(channel: string): StreamId {
    return parseStreamId(this.generator(this.deadIds, channel).next());
  }

  watch(channel: string, wake: Waker): void {
    let set = this.waiters.get(channel);
    if (!set) this.waiters.set(channel, (set = new Set()));
    set.add(wake);
  }

  unwatch(channel: string, wake: Waker): void {
    const set = this.waiters.get(channel);
    if (set?.delete(wake) && set.size === 0) this.waiters.delete(channel);
  }

  wake(channel: string, why: 'append' | 'closed' = 'append'): void {
    const set = this.waiters.get(channel);
    if (set) for (const wake of [...set]) wake(why);
  }

  private generator(map: Map<string, MonotonicIds>, channel: string): MonotonicIds {
    let gen = map.get(channel);
    if (!gen) map.set(channel, (gen = new MonotonicIds()));
    return gen;
  }
}

function toDeadLetter(r: DeadLetterRow): DeadLetter {
  return {
    id: formatId(r.ms, r.seq),
    originalId: r.original_id,
    group: r.grp,
    consumer: r.consumer,
    deliveries: r.deliveries,
    error: r.error,
    fields: JSON.parse(r.fields) as EntryFields,
  };
}

function before(a: StreamId, b: StreamId): boolean {
  return a.ms < b.ms || (a.ms === b.ms && a.seq < b.seq);
}
