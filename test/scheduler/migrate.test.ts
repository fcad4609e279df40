/** `migrate`: a fresh migrate equals schema.sql, a second run is a no-op, a newer schema is refused untouched. */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import t from 'tap';
import { SchemaTooNewError } from '../../scheduler/errors.js';
import { loadMigrations, migrate } from '../../scheduler/store/migrate.js';
import { testDatabase } from '../helpers/postgres.js';

const SCHEMA_SQL = readFileSync(new URL('../../schema.sql', import.meta.url), 'utf8');

/** Columns, constraints and indexes of the public schema, as comparable text lines. */
async function describe(pool: pg.Pool): Promise<string[]> {
  const columns = await pool.query<{ line: string }>(
    `SELECT concat_ws(' ', table_name, column_name, data_type, is_nullable, coalesce(column_default, '-')) AS line
     FROM information_schema.columns WHERE table_schema = 'public'`,
  );
  const constraints = await pool.query<{ line: string }>(
    `SELECT concat_ws(' ', conrelid::regclass::text, conname, pg_get_constraintdef(oid)) AS line
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
  );
  const indexes = await pool.query<{ line: string }>("SELECT indexdef AS line FROM pg_indexes WHERE schemaname = 'public'");
  return [...columns.rows, ...constraints.rows, ...indexes.rows].map((r) => r.line).sort();
}

t.test('a fresh migrate produces exactly the schema of schema.sql', async (t) => {
  const migrated = await testDatabase(t);
  const reference = await testDatabase(t);
  const result = await migrate(migrated.pool);
  await reference.pool.query(SCHEMA_SQL);
  t.equal(result.from, 0);
  t.equal(result.to, loadMigrations().length);
  const a = await describe(migrated.pool);
  const b = await describe(reference.pool);
  t.ok(a.some((line) => line.startsWith('leases epoch bigint')), 'the description covers the tables');
  t.same(a, b);
});

t.test('migrating twice is a no-op', async (t) => {
  const db = await testDatabase(t);
  const first = await migrate(db.pool);
  t.ok(first.applied.length >= 1);
  const before = await db.pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version');
  const second = await migrate(db.pool);
  t.same(second.applied, []);
  t.equal(second.from, first.to);
  t.equal(second.to, first.to);
  const after = await db.pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version');
  t.same(after.rows, before.rows);
});

t.test('concurrent migrators apply each migration exactly once', async (t) => {
  const db = await testDatabase(t);
  const results = await Promise.all([migrate(db.pool), migrate(db.pool), migrate(db.pool)]);
  t.equal(results.reduce((n, r) => n + r.applied.length, 0), loadMigrations().length);
  const rows = await db.pool.query('SELECT version FROM schema_migrations');
  t.equal(rows.rowCount, loadMigrations().length);
});

t.test('a schema newer than the code is refused, naming both versions, and nothing is touched', async (t) => {
  const db = await testDatabase(t);
  await migrate(db.pool);
  const latest = loadMigrations().length;
  await db.pool.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')", [latest + 1]);
  const before = await describe(db.pool);
  const err = await migrate(db.pool).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof SchemaTooNewError);
  t.match((err as Error).message, `the database schema is at version ${latest + 1}, newer than this code knows (version ${latest})`);
  t.same(await describe(db.pool), before);
});

t.test('a failing migration rolls back alone and names its file', async (t) => {
  const db = await testDatabase(t);
  const migrations = [
    ...loadMigrations(),
    { version: loadMigrations().length + 1, name: 'broken', file: `${loadMigrations().length + 1}_broken.sql`, sql: 'CREATE TABLE half_done (a int); SELECT no_such_function();' },
  ];
  await t.rejects(migrate(db.pool, { migrations }), { name: 'MigrationError', message: /_broken\.sql .*failed and was rolled back: function no_such_function\(\) does not exist/ });
  const v = await db.pool.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
  t.equal(v.rows[0]!.v, loadMigrations().length, 'the good migrations stay applied');
  const half = await db.pool.query("SELECT to_regclass('half_done') AS t");
  t.equal(half.rows[0].t, null, 'nothing of the failed migration remains');
});

t.test("a release's commit is a plain name: it names the directory pruning deletes (migration 009)", async (t) => {
  const db = await testDatabase(t);
  await migrate(db.pool);
  const insert = (commit: string) => db.pool.query("INSERT INTO releases (commit, path) VALUES ($1, '/srv/x')", [commit]);
  await insert('a1b2c3d4e5f60718293a4b5c6d7e8f9012345678');
  for (const bad of ['..', '../../etc', '/etc', 'a/b', '.hidden', '']) await t.rejects(insert(bad), { message: /releases_commit_check/ }, `refused: ${JSON.stringify(bad)}`);
});
