/** Leader lease: one leader at a time, takeover within the lease time, a deposed leader's writes refused. */
import { once } from 'node:events';
import t from 'tap';
import { FencingError } from '../../scheduler/errors.js';
import { LeaderElector } from '../../scheduler/leaderElector.js';
import { readLease, release, renew, tryAcquire, withFence } from '../../scheduler/lease.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { createLogger } from '../../core/log.js';
import { testDatabase } from '../helpers/postgres.js';
import { sleep, waitFor } from '../helpers/wait.js';

const quiet = createLogger({}, { write: () => undefined });

t.test('tryAcquire, renew and release keep one holder and a growing epoch', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const a = await tryAcquire(pool, 'scheduler', 'a', 1_000);
  t.equal(a?.epoch, 1);
  t.equal(await tryAcquire(pool, 'scheduler', 'b', 1_000), null, 'held: b is refused');
  const again = await tryAcquire(pool, 'scheduler', 'a', 1_000);
  t.equal(again?.epoch, 1, 're-acquiring while holding keeps the epoch');
  t.ok(await renew(pool, a!, 1_000));
  t.ok(await release(pool, a!));
  t.equal(await renew(pool, a!, 1_000), null, 'a released lease cannot be renewed');
  const b = await tryAcquire(pool, 'scheduler', 'b', 1_000);
  t.equal(b?.epoch, 2, 'a released lease is free at once, with the next epoch');
  const back = await tryAcquire(pool, 'scheduler', 'a', 1_000);
  t.equal(back, null);
  t.equal((await readLease(pool, 'scheduler'))?.holder, 'b');
});

t.test('of many racing candidates exactly one acquires', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => tryAcquire(pool, 'race', `c${i}`, 5_000)));
  t.equal(results.filter(Boolean).length, 1);
});

t.test('two electors: exactly one leads; killing it lets the other lead within the lease time; its fenced write is refused', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await pool.query('CREATE TABLE fenced_writes (writer text, epoch bigint)');
  const ttlMs = 1_200;
  const retryEveryMs = 100;
  const a = new LeaderElector({ db: pool, name: 'scheduler', holder: 'a', ttlMs, retryEveryMs, log: quiet });
  const b = new LeaderElector({ db: pool, name: 'scheduler', holder: 'b', ttlMs, retryEveryMs, log: quiet });
  const errors: Error[] = [];
  for (const e of [a, b]) e.on('error', (err) => errors.push(err));
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  const firstElected = Promise.race([once(a, 'elected').then(() => a), once(b, 'elected').then(() => b)]);
  a.start();
  b.start();
  const leader = await firstElected;
  const standby = leader === a ? b : a;
  // Several renewal periods: leadership must not flap.
  await sleep(ttlMs * 2);
  t.equal([a, b].filter((e) => e.isLeader).length, 1, 'exactly one leads');
  t.ok(leader.isLeader, 'the first leader still leads after several renewals');
  const oldFence = leader.fence!;
  await withFence(pool, oldFence, (c) => c.query('INSERT INTO fenced_writes VALUES ($1, $2)', [oldFence.holder, oldFence.epoch]));

  // Kill the leader: it stops renewing and does not release (what a SIGKILL looks like).
  const killedAt = performance.now();
  await leader.stop({ release: false });
  await once(standby, 'elected');
  const takeoverMs = performance.now() - killedAt;
  t.ok(takeoverMs <= ttlMs + retryEveryMs + 500, `standby leads ${Math.round(takeoverMs)} ms after the kill (lease ${ttlMs} ms + poll ${retryEveryMs} ms)`);
  const newFence = standby.fence!;
  t.equal(newFence.epoch, oldFence.epoch + 1, 'the takeover bumped the epoch');

  await t.rejects(
    withFence(pool, oldFence, (c) => c.query('INSERT INTO fenced_writes VALUES ($1, $2)', ['stale', oldFence.epoch])),
    FencingError,
    "the old leader's write is refused",
  );
  await withFence(pool, newFence, (c) => c.query('INSERT INTO fenced_writes VALUES ($1, $2)', [newFence.holder, newFence.epoch]));
  const rows = await pool.query<{ writer: string }>('SELECT writer FROM fenced_writes ORDER BY epoch');
  t.same(rows.rows.map((r) => r.writer), [oldFence.holder, newFence.holder], 'only current leaders wrote');
  t.same(errors, []);
});

t.test('a fenced write of an expired lease is refused even before anyone takes over', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const lease = await tryAcquire(pool, 'scheduler', 'a', 200);
  await sleep(300); // the 200 ms lease expires: time passing is the condition
  await t.rejects(withFence(pool, lease!, async () => 'never'), { name: 'FencingError', message: "lease 'scheduler': a no longer holds epoch 1" });
});

t.test('a takeover waits for an in-flight fenced write to commit', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const lease = (await tryAcquire(pool, 'scheduler', 'a', 300))!;
  const order: string[] = [];
  const write = withFence(pool, lease, async () => {
    await sleep(600); // the lease expires meanwhile
    order.push('old leader committed');
  });
  await sleep(400); // the 300 ms lease expires while the write is in flight
  const b = await tryAcquire(pool, 'scheduler', 'b', 1_000);
  order.push('takeover');
  await write;
  t.equal(b?.epoch, 2);
  t.same(order, ['old leader committed', 'takeover']);
});

t.test('the elector never throws out of its loop when the database is unreachable', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const pg = (await import('pg')).default;
  const broken = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 200 });
  t.teardown(() => broken.end());
  const e = new LeaderElector({ db: broken, name: 'scheduler', holder: 'x', ttlMs: 400, retryEveryMs: 50, log: quiet });
  const errors: Error[] = [];
  e.on('error', (err) => errors.push(err));
  e.start();
  await waitFor('three failed attempts', () => errors.length >= 3, 5_000);
  t.notOk(e.isLeader);
  await e.stop();
  t.match(errors[0]!.message, /ECONNREFUSED|connect/);
});
