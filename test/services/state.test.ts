/**
 * The state service as a real process under a supervisor, over real Redis and PostgreSQL: the
 * apply rule, item_state, state.changes, the rebuild after SIGKILL, the HTTP queries and their
 * 400s, dead-lettering of bad bodies, and holding batches unacknowledged while PostgreSQL
 * cannot be written. Subscriptions (SSE, WebSocket, client) are in stateSubscriptions.test.ts.
 */
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { startState, update } from './stateHarness.js';

interface ItemsAnswer {
  count: number;
  items: Array<Record<string, unknown> & { site: number; device: number; item: number; seq: number; status: string }>;
}

t.test('applies an update only when its seq is newer than the one held; older and equal ones are ignored and counted; item_state and state.changes follow', async (t) => {
  const h = await startState(t);
  await h.publish(
    update(1, 1001, 5, [{ item: 1 }, { item: 2 }]),
    update(1, 1001, 3, [{ item: 1, status: 'fault' }]), // older: ignored
    update(1, 1001, 5, [{ item: 1, status: 'armed' }]), // equal (a replayed frame): ignored
    update(1, 1001, 6, [{ item: 2, status: 'armed', voltage: 23.9 }]),
    update(1, 1002, 1, [{ item: 1 }]),
  );
  await h.settled();
  const c = await h.counters((c) => c.applied === 4);
  t.equal(c.ignored_stale, 2, 'two stale updates counted');
  t.equal(c.items, 3);

  const { body } = await h.getJson<ItemsAnswer>('/state/items?site=1');
  t.same(
    body.items.map((s) => [s.device, s.item, s.seq, s.status]),
    [
      [1001, 1, 5, 'connected'],
      [1001, 2, 6, 'armed'],
      [1002, 1, 1, 'connected'],
    ],
    'memory holds the newest update of each item',
  );

  const rows = await waitFor('item_state rows', async () => {
    const r = await h.db.pool.query('SELECT site::int, device::int, item::int, seq::int, status, voltage FROM item_state ORDER BY device, item');
    return r.rowCount === 3 ? r.rows : null;
  });
  t.same(rows, [
    { site: 1, device: 1001, item: 1, seq: 5, status: 'connected', voltage: 24.1 },
    { site: 1, device: 1001, item: 2, seq: 6, status: 'armed', voltage: 23.9 },
    { site: 1, device: 1002, item: 1, seq: 1, status: 'connected', voltage: 24.1 },
  ], 'item_state matches');

  const changes = await h.allChanges();
  t.equal(changes.length, 4, 'one state.change per applied update');
  t.ok(changes.every((m) => m.type === 'state.change' && m.v === 1));
  t.same(changes.map((m) => m.key), ['1:1001', '1:1001', '1:1001', '1:1002'], 'keyed by site:device');
  t.same(changes[2]!.body.changed, ['status', 'voltage'], 'changed names the fields whose value changed');
  t.same(changes[2]!.body.state, { item: 2, status: 'armed', faultCode: 0, voltage: 23.9, resistance: 2.5, delayMs: 0 }, 'state is the full record');
  t.same(changes[0]!.body.changed, ['status', 'faultCode', 'voltage', 'resistance', 'delayMs'], 'a new item changes every field');
});

t.test('after a SIGKILL the supervisor restarts it, the state is rebuilt from PostgreSQL and queries answer the same', async (t) => {
  const h = await startState(t);
  for (let seq = 1; seq <= 20; seq++) await h.publish(update(7, 70 + (seq % 3), seq, [{ item: seq % 5, status: seq % 2 ? 'armed' : 'connected', delayMs: seq * 10 }]));
  await h.settled();
  const before = await h.getJson('/state/sites/7');
  const items = await h.getJson('/state/items?site=7&status=armed');
  await h.kill();
  t.same(await h.getJson('/state/sites/7'), before, 'site view identical after the restart');
  t.same(await h.getJson('/state/items?site=7&status=armed'), items, 'filtered items identical');
  // The seqs held came back too: a replay of an old frame is still refused.
  await h.publish(update(7, 71, 1, [{ item: 1, status: 'fault' }]));
  await h.settled();
  const c = await h.counters((c) => c.ignored_stale === 1);
  t.equal(c.applied, 0, 'nothing applied after the restart');
  t.equal(h.child().restarts, 1);
});

t.test('GET /state/sites/:site groups by device with counts by status; /state/items filters; bad values are 400 naming the parameter', async (t) => {
  const h = await startState(t);
  await h.publish(update(2, 1, 1, [{ item: 1, status: 'armed' }, { item: 2, status: 'fault', faultCode: 3 }]), update(2, 2, 1, [{ item: 1, status: 'armed' }]), update(3, 9, 1, [{ item: 1 }]));
  await h.settled();

  const site = await h.getJson<{ site: number; count: number; counts: Record<string, number>; devices: Array<{ device: number; count: number; counts: Record<string, number>; items: unknown[] }> }>('/state/sites/2');
  t.equal(site.status, 200);
  t.equal(site.body.count, 3);
  t.same(site.body.counts, { unknown: 0, connected: 0, armed: 2, fired: 0, misfire: 0, fault: 1 });
  t.same(site.body.devices.map((d) => [d.device, d.count, d.counts.armed]), [[1, 2, 1], [2, 1, 1]]);
  t.same((await h.getJson<{ count: number }>('/state/sites/99')).body.count, 0, 'a site without state answers empty');

  const q = async (query: string) => (await h.getJson<ItemsAnswer>(`/state/items?${query}`)).body.items.map((s) => `${s.site}/${s.device}/${s.item}`);
  t.same(await q('site=2&device=1'), ['2/1/1', '2/1/2']);
  t.same(await q('status=armed'), ['2/1/1', '2/2/1']);
  t.same(await q('site=2&item=1'), ['2/1/1', '2/2/1']);
  t.same(await q(''), ['2/1/1', '2/1/2', '2/2/1', '3/9/1']);

  const bad: Array<[string, RegExp]> = [
    ['/state/items?site=abc', /^site: 'abc' is not an id/],
    ['/state/items?device=-1', /^device: '-1' is not an id/],
    ['/state/items?status=exploded', /^status: 'exploded' is not one of unknown, connected/],
    ['/state/items?sites=1', /^unknown query parameter 'sites'/],
    ['/state/items?site=1&site=2', /'site' is given more than once/],
    ['/state/sites/x1', /^site: 'x1' is not an id/],
    ['/state/stream?field=colour', /^field: 'colour' is not one of status/],
  ];
  for (const [path, reason] of bad) {
    const res = await h.getJson<{ error: string }>(path);
    t.equal(res.status, 400, `${path} → 400`);
    t.match(res.body.error, reason, `${path}: ${res.body.error}`);
  }
});

t.test('a body that is not a valid packet.parsed@1 goes to the dead-letter stream with the reason; the others of its batch apply', async (t) => {
  const h = await startState(t);
  const good = update(4, 1, 1, [{ item: 1 }]);
  await h.parsed.publishMany([
    { type: 'packet.parsed', v: 1, body: { ...good, items: [{ ...good.items[0], status: 'boom' }] } },
    { type: 'packet.parsed', v: 1, body: { ...good, site: 'four' } },
    { type: 'packet.other', v: 1, body: {} },
    // Checked as report checks it (one packet.parsed@1 check): an unknown frame type is refused.
    { type: 'packet.parsed', v: 1, body: { ...good, frameType: 'explode' } },
    { type: 'packet.parsed', v: 1, body: good },
  ]);
  await h.settled();
  const dead = await h.parsed.deadLetters(10);
  t.equal(dead.length, 4);
  t.match(dead.map((d) => d.error), [
    /body\.items\[0\]\.status: "boom" is not one of/,
    /body\.site: "four" is not an unsigned 32-bit integer/,
    /unexpected message type packet\.other@1; state consumes packet\.parsed@1/,
    /body\.frameType: "explode" is not one of status, arm/,
  ]);
  const c = await h.counters((c) => c.bad_updates === 4);
  t.equal(c.applied, 1, 'the good update of the batch applied');
});

t.test('while PostgreSQL cannot be written, batches stay unacknowledged (retried with backoff) and live state still answers; once it can, the rows land and the batch is acked', async (t) => {
  const h = await startState(t, { STATE_FLUSH_MS: '10' });
  await h.publish(update(5, 1, 1, [{ item: 1 }]));
  await h.settled();
  // The service's table vanishes from under it: every upsert now fails.
  await h.db.pool.query('ALTER TABLE item_state RENAME TO item_state_away');
  await h.publish(update(5, 1, 2, [{ item: 1, status: 'armed' }]));
  await waitFor('the update visible in memory', async () => (await h.getJson<ItemsAnswer>('/state/items?site=5')).body.items[0]?.status === 'armed');
  const failing = await h.counters((c) => (c.db_write_failures ?? 0) >= 2);
  await h.counters((c) => (c.db_write_failures ?? 0) > failing.db_write_failures!);
  const [group] = (await h.parsed.groups()).filter((g) => g.name === 'state');
  t.equal(group?.pending, 1, 'the batch is still unacknowledged');
  t.match(h.child().status?.detail, /postgres writes failing for \d+ s; 1 rows waiting/, 'health says why');
  await h.db.pool.query('ALTER TABLE item_state_away RENAME TO item_state');
  await h.settled();
  const { rows } = await h.db.pool.query('SELECT seq::int, status FROM item_state WHERE site = 5');
  t.same(rows, [{ seq: 2, status: 'armed' }], 'the held row was written once PostgreSQL took it');
});
