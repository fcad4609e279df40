/** `hydra db migrate`, run as a user would (the built bin/hydra, so the .sql files must be in dist/). */
import t from 'tap';
import { loadMigrations } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';
import { hydra } from './schedulerCli.js';

const latest = loadMigrations().length;

t.test('db migrate applies the migrations with a line each, then is a no-op', async (t) => {
  const db = await testDatabase(t);
  const first = await hydra({ DATABASE_URL: db.url }, 'db', 'migrate');
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^applied 001_scheduler\.sql \(\d+ ms\)\n/);
  t.match(first.stdout, new RegExp(`database migrated from version 0 to ${latest} \\(${latest} migration\\(s\\) applied\\)\\n$`));
  const second = await hydra({ DATABASE_URL: db.url }, 'db', 'migrate');
  t.equal(second.stdout, `database already at version ${latest}; nothing to do\n`);
  const json = await hydra({ DATABASE_URL: db.url }, 'db', 'migrate', '--json');
  t.same(JSON.parse(json.stdout), { from: latest, to: latest, latest, applied: [] });
});

t.test('db migrate --json reports what it applied', async (t) => {
  const db = await testDatabase(t);
  const r = await hydra({ DATABASE_URL: db.url }, 'db', 'migrate', '--json');
  t.equal(r.code, 0);
  const body = JSON.parse(r.stdout) as { from: number; to: number; applied: { file: string }[] };
  t.match(body, { from: 0, to: latest });
  t.equal(body.applied[0]?.file, '001_scheduler.sql');
});

t.test('db migrate refuses a newer schema with exit 1 naming both versions', async (t) => {
  const db = await testDatabase(t);
  await hydra({ DATABASE_URL: db.url }, 'db', 'migrate');
  await db.pool.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'future')", [latest + 5]);
  const r = await hydra({ DATABASE_URL: db.url }, 'db', 'migrate');
  t.equal(r.code, 1);
  t.equal(r.stderr, `hydra db migrate: the database schema is at version ${latest + 5}, newer than this code knows (version ${latest}); nothing was changed: upgrade hydra on this machine before migrating\n`);
});

t.test('db migrate: unreachable database, missing DATABASE_URL, bad option', async (t) => {
  const down = await hydra({ DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/hydra' }, 'db', 'migrate');
  t.equal(down.code, 1);
  t.match(down.stderr, /^hydra db migrate: cannot reach the database at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/hydra: .*ECONNREFUSED.*\n$/);
  t.notMatch(down.stderr, /secret/, 'the password is not printed');
  const unset = await hydra({ DATABASE_URL: undefined }, 'db', 'migrate');
  t.equal(unset.code, 1);
  t.match(unset.stderr, /DATABASE_URL: not set/);
  const bad = await hydra({}, 'db', 'migrate', '--force');
  t.equal(bad.code, 2);
  t.match(bad.stderr, "hydra db migrate: unknown option '--force'\nusage: hydra db migrate [--json]\n");
});
