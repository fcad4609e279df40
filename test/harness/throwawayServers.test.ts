/**
 * The throwaway servers npm test starts without DATABASE_URL/REDIS_URL: a PostgreSQL cluster
 * that lets postgres in over 127.0.0.1 without a password and can create databases, a Redis that
 * answers, each in a directory of its own; stop() leaves no process and no directory behind.
 */
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { postgresBinDir, testPath } from './preflight.js';
import { startThrowawayPostgres } from './throwawayPostgres.js';
import { startThrowawayRedis } from './throwawayRedis.js';

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

t.test('PostgreSQL: initdb, trust on 127.0.0.1, a free port; stop removes it all', async (t) => {
  const bin = postgresBinDir(testPath(process.env.PATH));
  if (!bin) return t.fail('no initdb: apt-get install postgresql');
  const server = await startThrowawayPostgres(bin);
  t.teardown(() => server.stop());
  t.match(server.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  t.ok(existsSync(server.dir));
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query('CREATE DATABASE hydra_throwaway_probe');
    const { rows } = await client.query<{ port: string; fsync: string; max: string }>(
      "SELECT current_setting('port') AS port, current_setting('fsync') AS fsync, current_setting('max_connections') AS max",
    );
    t.same(rows[0], { port: String(server.port), fsync: 'off', max: '200' });
  } finally {
    await client.end();
  }
  await server.stop();
  t.ok(gone(server.pid), 'the postmaster is gone');
  await waitFor('its backends gone too', () => gone(server.pid));
  t.notOk(existsSync(server.dir), 'its directory is removed');
});

t.test('Redis: a free port, no persistence; stop removes it all', async (t) => {
  const server = await startThrowawayRedis();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url);
  try {
    t.equal(await redis.ping(), 'PONG');
    t.same(await redis.config('GET', 'appendonly'), ['appendonly', 'no']);
    t.same(await redis.config('GET', 'save'), ['save', '']);
  } finally {
    redis.disconnect();
  }
  await server.stop();
  t.ok(gone(server.pid), 'redis-server is gone');
  t.notOk(existsSync(server.dir), 'its directory is removed');
});
