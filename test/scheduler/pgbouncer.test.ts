/**
 * Migration, leader election and fencing through a real PgBouncer in transaction pooling with
 * one server connection shared by every client: nothing may depend on session state.
 */
import { once } from 'node:events';
import pg from 'pg';
import t from 'tap';
import { FencingError } from '../../scheduler/errors.js';
import { LeaderElector } from '../../scheduler/leaderElector.js';
import { withFence } from '../../scheduler/lease.js';
import { loadMigrations, migrate } from '../../scheduler/store/migrate.js';
import { createLogger } from '../../core/log.js';
import { testDatabase } from '../helpers/postgres.js';
import { pgbouncerAvailable, startPgbouncer } from './pgbouncerProcess.js';

const quiet = createLogger({}, { write: () => undefined });

t.test('migrate and leader election work through PgBouncer in transaction pooling', async (t) => {
  t.ok(pgbouncerAvailable(), 'pgbouncer is installed (.ci/run installs it: apt-get install -y pgbouncer)');
  const db = await testDatabase(t);
  const bouncerUrl = await startPgbouncer(t, db.url, 1);
  const pool = new pg.Pool({ connectionString: bouncerUrl, max: 6 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());

  const results = await Promise.all([migrate(pool), migrate(pool)]);
  t.equal(results.reduce((n, r) => n + r.applied.length, 0), loadMigrations().length, 'concurrent migrators through the bouncer apply each migration once');
  // Two clients held at once, one query each: with one server connection they are served by
  // the same backend, so any session state (an advisory lock, LISTEN) would leak between them.
  const [c1, c2] = [await pool.connect(), await pool.connect()];
  const pids = [(await c1.query('SELECT pg_backend_pid() AS p')).rows[0].p, (await c2.query('SELECT pg_backend_pid() AS p')).rows[0].p];
  c1.release();
  c2.release();
  t.equal(pids[0], pids[1], 'clients share one server connection (transaction pooling is in force)');

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
  const first = Promise.race([once(a, 'elected').then(() => a), once(b, 'elected').then(() => b)]);
  a.start();
  b.start();
  const leader = await first;
  const standby = leader === a ? b : a;
  await new Promise((r) => setTimeout(r, ttlMs * 2));
  t.equal([a, b].filter((e) => e.isLeader).length, 1, 'exactly one leads through the bouncer');
  const oldFence = leader.fence!;
  await withFence(pool, oldFence, (c) => c.query('INSERT INTO fenced_writes VALUES ($1, $2)', [oldFence.holder, oldFence.epoch]));

  const killedAt = performance.now();
  await leader.stop({ release: false });
  await once(standby, 'elected');
  const takeoverMs = performance.now() - killedAt;
  t.ok(takeoverMs <= ttlMs + retryEveryMs + 500, `standby leads ${Math.round(takeoverMs)} ms after the kill`);
  await t.rejects(withFence(pool, oldFence, (c) => c.query("INSERT INTO fenced_writes VALUES ('stale', 0)")), FencingError);
  const rows = await db.pool.query<{ writer: string }>('SELECT writer FROM fenced_writes');
  t.same(rows.rows.map((r) => r.writer), [oldFence.holder]);
  t.same(errors, []);
});
