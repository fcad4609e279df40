/**
 * The state service's building blocks in-process: the write-behind queue (group commit, latest
 * row per item, the interval and row bounds, retry without acknowledging) and the apply rule's
 * redelivery case (a re-read entry re-emits its change instead of being swallowed as stale).
 */
import t from 'tap';
import { LiveState } from '../../services/state/liveState.js';
import type { ItemState } from '../../services/state/selector.js';
import { WriteBehind } from '../../services/state/writeBehind.js';
import { sleep, waitFor } from '../helpers/wait.js';

const row = (item: number, seq: number): ItemState => ({
  site: 1, device: 1, item, seq, deviceTs: seq, status: 'connected', faultCode: 0, voltage: 24, resistance: 2, delayMs: 0, updatedAt: 0, source: `0-${seq}`, changed: [],
});

t.test('rows wait at most the interval, then go in one write; a write resolves every waiter of its flush', async (t) => {
  const writes: ItemState[][] = [];
  const wb = new WriteBehind({ write: async (rows) => void writes.push(rows), intervalMs: 40 });
  const started = Date.now();
  const a = wb.write([row(1, 1)]);
  const b = wb.write([row(2, 1), row(1, 2)]);
  t.equal(wb.lag, 2, 'one pending row per item');
  await Promise.all([a, b]);
  t.ok(Date.now() - started >= 35, 'waited for the interval');
  t.same(writes.map((w) => w.map((r) => `${r.item}@${r.seq}`)), [['1@2', '2@1']], 'one write, latest row per item');
});

t.test('a flush starts at once when maxRows wait or when no handler is still applying', async (t) => {
  const writes: number[] = [];
  let idle = false;
  const wb = new WriteBehind({ write: async (rows) => void writes.push(rows.length), intervalMs: 10_000, maxRows: 3, idle: () => idle });
  await wb.write([row(1, 1), row(2, 1), row(3, 1)]);
  t.same(writes, [3], 'maxRows reached');
  idle = true;
  await wb.write([row(4, 1)]);
  t.same(writes, [3, 1], 'idle: no reason to wait');
  t.equal(await Promise.race([wb.write([]), sleep(50).then(() => 'waited')]), undefined, 'nothing to write resolves at once');
});

t.test('rows that arrive during a flush go into the next one (one flush at a time)', async (t) => {
  const writes: string[][] = [];
  let release!: () => void;
  let first = true;
  const wb = new WriteBehind({
    write: async (rows) => {
      writes.push(rows.map((r) => `${r.item}@${r.seq}`));
      if (first) await new Promise<void>((r) => (release = r));
      first = false;
    },
    idle: () => true,
  });
  const a = wb.write([row(1, 1)]);
  const b = wb.write([row(1, 2)]);
  const c = wb.write([row(2, 1)]);
  t.equal(wb.lag, 3, 'one row in flight, two waiting');
  release();
  await Promise.all([a, b, c]);
  t.same(writes, [['1@1'], ['1@2', '2@1']]);
});

t.test('a failing write is retried with backoff and its waiters stay unresolved until it succeeds', async (t) => {
  let failures = 3;
  const errors: number[] = [];
  const wb = new WriteBehind({
    write: async () => {
      if (failures-- > 0) throw new Error('connection refused');
    },
    idle: () => true,
    backoffMs: 10,
    onError: (_err, attempt) => errors.push(attempt),
  });
  let resolved = false;
  const done = wb.write([row(1, 1)]).then(() => (resolved = true));
  await waitFor('the first write to fail', () => errors.length > 0, 15_000, 1);
  t.notOk(resolved, 'not resolved while failing');
  t.ok(wb.failingSince !== null);
  await done;
  t.same(errors, [1, 2, 3]);
  t.equal(wb.failingSince, null, 'recovered');
  t.equal(wb.lag, 0);
});

t.test('drain writes what is pending without waiting for the interval', async (t) => {
  const writes: number[] = [];
  const wb = new WriteBehind({ write: async (rows) => void writes.push(rows.length), intervalMs: 60_000 });
  void wb.write([row(1, 1), row(2, 1)]);
  await wb.drain();
  t.same(writes, [2]);
});

t.test('the apply rule: newer applies, older and equal are stale, the same entry again is a redelivery that re-emits its change', async (t) => {
  const live = new LiveState();
  const seen: number[] = [];
  live.subscribe((c) => seen.push(c.seq));
  const header = (seq: number) => ({ site: 1, device: 2, seq, deviceTs: seq });
  const rec = (status: 'armed' | 'fired') => ({ item: 5, status, faultCode: 0, voltage: 24, resistance: 2, delayMs: 100 });
  t.equal(live.apply(header(4), rec('armed'), '10-0').kind, 'applied');
  t.equal(live.apply(header(3), rec('fired'), '11-0').kind, 'stale', 'older');
  t.equal(live.apply(header(4), rec('fired'), '12-0').kind, 'stale', 'equal seq from another entry (a replayed frame)');
  const again = live.apply(header(4), rec('armed'), '10-0');
  t.equal(again.kind, 'redelivered', 'the entry that applied it, delivered again');
  t.match(again, { change: { seq: 4, changed: ['status', 'faultCode', 'voltage', 'resistance', 'delayMs'] } }, 'the same change as the first time');
  const next = live.apply(header(5), rec('fired'), '13-0');
  t.match(next, { kind: 'applied', change: { changed: ['status'], state: { status: 'fired' } } });
  t.same(seen, [4, 5], 'subscribers see each applied change once');
  t.equal(live.get(1, 2, 5)?.status, 'fired');
});
