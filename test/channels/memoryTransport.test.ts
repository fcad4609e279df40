/**
 * The in-memory transport's primitives, checked directly (the channel contract suite checks
 * them again through Channel and Consumer): ids, group reads with blocking and interrupt, the
 * pending list (claim, touch, ack), dead letters, trimming and closing.
 */
import t, { type Test } from 'tap';
import { ChannelError } from '../../channels/errors.js';
import { MemoryTransport, createMemoryTransport } from '../../channels/memory/memoryTransport.js';
import { compareStreamIds } from '../../channels/streamId.js';
import type { Transport } from '../../channels/transport.js';
import { sleep } from '../helpers/wait.js';

const items = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ n: String(from + i) }));

async function open(t: Test): Promise<MemoryTransport> {
  const transport = await createMemoryTransport();
  if (!(transport instanceof MemoryTransport)) throw new Error('createMemoryTransport did not return a MemoryTransport');
  t.teardown(() => transport.close());
  return transport;
}

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  const value = await p;
  return { value, ms: Date.now() - start };
}

t.test('append returns strictly increasing ids in order and stores fields verbatim', async (t) => {
  const tr: Transport = await open(t);
  t.equal(tr.kind, 'memory');
  const ids = [...(await tr.append('a', items(300))), ...(await tr.append('a', items(3, 300)))];
  t.equal(ids.length, 303);
  t.ok(ids.every((id) => /^\d+-\d+$/.test(id)), 'ids are <ms>-<seq>');
  t.ok(ids.every((id, i) => i === 0 || compareStreamIds(ids[i - 1]!, id) < 0), 'ids strictly increasing');
  t.same(await tr.append('a', []), []);
  t.equal(await tr.length('a'), 303);
  t.equal(await tr.length('nothing'), 0);
  t.same(await tr.groups('nothing'), []);

  await tr.append('b', [{ junk: 'x' }, { type: 'odd', body: '{not json', extra: '' }]);
  const c = tr.cursor('b', 'g', 'c');
  await c.ensureGroup('0');
  t.same((await c.readNew(10, 0)).map((e) => e.fields), [{ junk: 'x' }, { type: 'odd', body: '{not json', extra: '' }], 'fields come back as given');
  await t.rejects(tr.append('b', [{ ok: '1' }, {}]), ChannelError, 'an entry without fields is refused');
  t.equal(await tr.length('b'), 2, 'nothing of a refused append is stored');

  const other = await open(t);
  t.equal(await other.length('a'), 0, 'transports do not share data');
});

t.test('readNew delivers each entry once per group; groups are independent', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', items(5));
  const c1 = tr.cursor('ch', 'g1', 'c1');
  const c2 = tr.cursor('ch', 'g1', 'c2');
  const other = tr.cursor('ch', 'g2', 'x');
  await t.rejects(c1.readNew(10, 0), { name: 'ChannelError', message: /group 'g1' does not exist/ });
  await c1.ensureGroup('0');
  await c2.ensureGroup('$'); // idempotent: the group already exists, its position stays
  t.same(await tr.groups('ch'), [{ name: 'g1', pending: 0, lag: 5 }]);

  const first = await c1.readNew(2, 0);
  const rest = await c2.readNew(10, 0);
  t.same(first.map((e) => e.id), ids.slice(0, 2));
  t.same(rest.map((e) => e.id), ids.slice(2));
  t.same(first[0]!.fields, { n: '0' });
  t.same(await c1.readNew(10, 0), [], 'nothing is delivered twice');
  const pending = await c1.pending(0, 10);
  t.same(pending.map((p) => [p.id, p.consumer, p.deliveries]), ids.map((id, i) => [id, i < 2 ? 'c1' : 'c2', 1]));

  await other.ensureGroup('0');
  t.same((await other.readNew(0, 0)).map((e) => e.id), ids, 'the second group gets everything (count 0 = no limit)');
  await c1.ack(ids);
  t.same(await tr.groups('ch'), [
    { name: 'g1', pending: 0, lag: 0 },
    { name: 'g2', pending: 5, lag: 0 },
  ]);
});

t.test('ensureGroup positions: $ is the last id, an id starts after it', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', items(4));
  const late = tr.cursor('ch', 'late', 'c');
  await late.ensureGroup('$');
  const mid = tr.cursor('ch', 'mid', 'c');
  await mid.ensureGroup(ids[1]!);
  await t.rejects(tr.cursor('ch', 'bad', 'c').ensureGroup('nope'), ChannelError);
  const [fifth] = await tr.append('ch', items(1, 4));
  t.same((await late.readNew(10, 0)).map((e) => e.id), [fifth]);
  t.same((await mid.readNew(10, 0)).map((e) => e.id), [ids[2], ids[3], fifth]);
});

t.test('a blocked readNew wakes on append, waits out its block time, and stops on interrupt', async (t) => {
  const tr = await open(t);
  const a = tr.cursor('ch', 'g', 'a');
  const b = tr.cursor('ch', 'g', 'b');
  await a.ensureGroup('0');

  setTimeout(() => void tr.append('ch', [{ k: 'v' }]), 50);
  const woken = await timed(a.readNew(10, 5_000));
  t.same(woken.value.map((e) => e.fields), [{ k: 'v' }]);
  t.ok(woken.ms >= 40 && woken.ms < 2_000, `woke on the append (${woken.ms} ms)`);

  const empty = await timed(a.readNew(10, 120));
  t.same(empty.value, []);
  t.ok(empty.ms >= 100, `waited its block time (${empty.ms} ms)`);

  // Two readers of one group, one append: one gets it, the other keeps waiting until its time is up.
  const ra = timed(a.readNew(10, 300));
  const rb = timed(b.readNew(10, 300));
  await sleep(20); // both reads park inside the transport; nothing outside shows when they have
  await tr.append('ch', [{ k: 'w' }]);
  const [ga, gb] = await Promise.all([ra, rb]);
  t.equal(ga.value.length + gb.value.length, 1, 'delivered once');
  t.ok(Math.max(ga.ms, gb.ms) >= 250, 'the other reader waited on');

  const blocked = timed(a.readNew(10, 10_000));
  setTimeout(() => a.interrupt(), 30);
  const interrupted = await blocked;
  t.same(interrupted.value, []);
  t.ok(interrupted.ms < 1_000, `interrupt returned at once (${interrupted.ms} ms)`);
  const after = await timed(a.readNew(10, 5_000));
  t.ok(after.ms < 100 && after.value.length === 0, 'an interrupted cursor no longer waits');
  await tr.append('ch', [{ k: 'x' }]);
  t.same((await a.readNew(10, 5_000)).map((e) => e.fields), [{ k: 'x' }], 'but still delivers what is there');
  t.same(await b.readNew(10, 0), []);
});

t.test('pending, claim, touch and ack follow XPENDING / XCLAIM / XACK', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', items(3));
  const c1 = tr.cursor('ch', 'g', 'c1');
  const c2 = tr.cursor('ch', 'g', 'c2');
  await c1.ensureGroup('0');
  await c1.readNew(10, 0);

  const fresh = await c1.pending(0, 10);
  t.same(fresh.map((p) => ({ id: p.id, consumer: p.consumer, deliveries: p.deliveries })), ids.map((id) => ({ id, consumer: 'c1', deliveries: 1 })));
  t.ok(fresh.every((p) => p.idleMs >= 0 && p.idleMs < 1_000));
  t.same((await c1.pending(0, 2)).map((p) => p.id), ids.slice(0, 2), 'count limits, oldest first');
  t.same(await c1.pending(10_000, 10), [], 'idle filter');
  t.same(await c1.pending(0, 10, 'c2'), [], 'consumer filter');

  await sleep(80); // idle time must pass: claims below take entries idle for 50 ms
  t.same(await c2.claim(ids, 10_000), [], 'not idle long enough: nothing claimed');
  const claimed = await c2.claim([ids[0]!, ids[1]!, ids[0]!, '9-9'], 50);
  t.same(claimed, [{ id: ids[0], fields: { n: '0' } }, { id: ids[1], fields: { n: '1' } }], 'claimed in the order asked, unknown ids skipped');
  t.same(await c2.claim([ids[0]!], 50), [], 'just claimed: not idle any more');
  const after = await c1.pending(0, 10);
  t.same(after.map((p) => [p.consumer, p.deliveries]), [['c2', 2], ['c2', 2], ['c1', 1]], 'claim counts a delivery and moves ownership');
  t.ok(after[0]!.idleMs < 50 && after[2]!.idleMs >= 50, 'claim resets the idle time');
  t.same((await c2.pending(0, 10, 'c2')).map((p) => p.id), ids.slice(0, 2));

  await sleep(80); // idle time must pass again, for touch to reset it
  await c2.touch([ids[0]!]);
  await c1.touch([ids[1]!]); // not c1's any more: no effect
  const touched = await c1.pending(0, 10);
  t.ok(touched[0]!.idleMs < 50, 'touch resets the idle time');
  t.ok(touched[1]!.idleMs >= 50, 'touch by another consumer changes nothing');
  t.same(touched.map((p) => p.deliveries), [2, 2, 1], 'touch counts no delivery');

  await c1.ack([ids[0]!, ids[2]!]); // any consumer of the group may acknowledge
  t.same((await c1.pending(0, 10)).map((p) => p.id), [ids[1]]);
  t.same(await c1.claim([ids[0]!], 0), [], 'an acknowledged entry cannot be claimed');
  await t.rejects(c1.ack(['x']), ChannelError, 'malformed ids are refused');
  await t.rejects(tr.cursor('ch', 'nope', 'c').pending(0, 10), /does not exist/);
});

t.test('claiming an entry deleted while pending returns null fields and drops it', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', items(2));
  const c = tr.cursor('ch', 'g', 'c');
  await c.ensureGroup('0');
  await c.readNew(10, 0);
  t.equal(await tr.deleteEntries('ch', [ids[0]!]), 1);
  t.same(await c.claim(ids, 0), [{ id: ids[0], fields: null }, { id: ids[1], fields: { n: '1' } }]);
  t.same((await c.pending(0, 10)).map((p) => p.id), [ids[1]], 'the deleted entry left the pending list');
});

t.test('deadLetter records the entry and acknowledges it in one step', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', [{ junk: 'x' }, { n: '1' }, { n: '2' }]);
  const c = tr.cursor('ch', 'g', 'c');
  await c.ensureGroup('0');
  const [e0, e1, e2] = await c.readNew(10, 0);
  await c.deadLetter(e0!, 'EnvelopeError: no type', 3);
  await c.deadLetter({ id: e1!.id, fields: null }, 'gone', 1);
  await c.deadLetter(e2!, 'third', 5);
  t.same(await c.pending(0, 10), [], 'dead-lettered entries are acknowledged');
  t.equal(await tr.length('ch'), 3, 'dead letters are not entries of the channel');

  const all = await tr.deadLetters('ch', 10);
  t.match(all[0], { originalId: ids[0], group: 'g', consumer: 'c', deliveries: 3, error: 'EnvelopeError: no type', fields: { junk: 'x' } });
  t.same(all[1]!.fields, {}, 'null fields are recorded as {}');
  t.ok(all.every((d, i) => /^\d+-\d+$/.test(d.id) && (i === 0 || compareStreamIds(all[i - 1]!.id, d.id) < 0)));
  t.same((await tr.deadLetters('ch', 2)).map((d) => d.originalId), [ids[1], ids[2]], 'newest two, oldest first');
  t.same(await tr.deadLetters('ch', 0), []);
  t.same(await tr.deadLetters('other', 10), []);
});

t.test('trim deletes only what every group has acknowledged', async (t) => {
  const tr = await open(t);
  const ids = await tr.append('ch', items(6));
  t.equal(await tr.trim('ch'), 0, 'a channel without groups is never trimmed');
  const a = tr.cursor('ch', 'a', 'c');
  const b = tr.cursor('ch', 'b', 'c');
  await a.ensureGroup('0');
  await b.ensureGroup('0');

  await a.readNew(4, 0);
  await a.ack([ids[0]!, ids[2]!]); // ids[1] still pending in a
  t.equal(await tr.trim('ch'), 0, 'group b has read nothing');

  await b.readNew(10, 0);
  await b.ack(ids);
  t.equal(await tr.trim('ch'), 1, 'only below a\'s oldest pending entry');
  t.equal(await tr.length('ch'), 5);

  await a.ack([ids[1]!, ids[3]!]);
  t.equal(await tr.trim('ch'), 3, 'up to a\'s last delivered entry');
  t.equal(await tr.length('ch'), 2);
  t.same(await tr.groups('ch'), [{ name: 'a', pending: 0, lag: 2 }, { name: 'b', pending: 0, lag: 0 }]);
  t.same((await a.readNew(10, 0)).map((e) => e.id), ids.slice(4), 'undelivered entries survive');
  t.equal(await tr.trim('ch'), 0, 'pending in a: nothing more to trim');
  await a.ack(ids.slice(4));
  t.equal(await tr.trim('ch'), 2);
  t.equal(await tr.length('ch'), 0);
});

t.test('close wakes blocked readers and refuses later calls', async (t) => {
  const tr = await createMemoryTransport();
  const c = tr.cursor('ch', 'g', 'c');
  await c.ensureGroup('0');
  const blocked = timed(c.readNew(10, 10_000));
  await sleep(20); // the read parks inside the transport; nothing outside shows when it has
  await tr.close();
  const woken = await blocked;
  t.same(woken.value, []);
  t.ok(woken.ms < 1_000, 'the blocked read returned');
  await tr.close(); // idempotent
  await t.rejects(tr.append('ch', items(1)), { name: 'ChannelError', message: /transport is closed/ });
  await t.rejects(tr.length('ch'), /transport is closed/);
  await t.rejects(c.readNew(10, 0), /transport is closed/);
  await t.rejects(c.ack(['1-0']), /transport is closed/);
  t.throws(() => tr.cursor('ch', 'g', 'c'), /transport is closed/);
});
