/**
 * The test harness itself: every test gets its own PostgreSQL database and Redis key prefix,
 * isolated from the others and removed when the test ends.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import t from 'tap';
import { DATABASE_URL, testDatabase } from './helpers/postgres.js';
import { REDIS_URL, testRedis } from './helpers/redis.js';

t.test('each test gets its own database, dropped at the end', async (t) => {
  const names: string[] = [];
  for (const n of [1, 2]) {
    await t.test(`test ${n}`, async (t) => {
      const db = await testDatabase(t);
      names.push(db.name);
      const tables = await db.pool.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'probe'`);
      t.equal(tables.rows[0].n, 0, 'starts empty: sees nothing of the other test');
      await db.pool.query('CREATE TABLE probe (v int)');
      await db.pool.query('INSERT INTO probe VALUES ($1)', [n]);
      t.same((await db.pool.query('SELECT v FROM probe')).rows, [{ v: n }]);
    });
  }
  t.not(names[0], names[1]);
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  const left = await admin.query('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names]);
  await admin.end();
  t.same(left.rows, [], 'both databases were dropped');
});

t.test('each test gets its own Redis prefix, deleted at the end', async (t) => {
  let prefix = '';
  await t.test('writer', async (t) => {
    const r = await testRedis(t);
    prefix = r.prefix;
    await r.redis.set(`${r.prefix}a`, '1');
    await r.redis.xadd(`${r.prefix}stream`, '*', 'f', 'v');
  });
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  await redis.quit();
  t.match(prefix, /^hydra-test:\d+:[0-9a-f]{8}:$/);
  t.same(keys, [], 'its keys are gone');
});
