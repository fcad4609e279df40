/**
 * Numbered SQL migrations (scheduler/migrations/NNN_name.sql), applied in order, one transaction
 * each, each recorded in schema_migrations. Running again is a no-op; a database whose recorded
 * version is newer than the newest file here is refused untouched (SchemaTooNewError), because
 * an old binary "migrating" a newer schema is how rollbacks corrupt data.
 *
 * Concurrent migrators (several nodes booting at once) are serialised by
 * pg_advisory_xact_lock taken inside each migration's transaction: transaction-scoped, so it is
 * released at COMMIT/ROLLBACK on the same server connection and works through PgBouncer in
 * transaction pooling, where a session lock would be held by whichever client happens to get
 * that server connection next. Migration files must not contain BEGIN/COMMIT themselves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { MigrationError, SchemaTooNewError } from '../errors.js';
import { inTransaction, type Db } from '../../core/pgTransaction.js';

/** Resolved from this module, so it works from the sources (tsx) and from dist/ (bin/finishBuild.mjs). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/** Arbitrary fixed key ('hydra mg') shared by every migrator of every version. */
const MIGRATE_LOCK_KEY = (0x6879647261206d67n).toString();

const FILE_NAME = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  file: string;
  ms: number;
}

export interface MigrateResult {
  /** Version before this run (0 = empty database). */
  from: number;
  /** Version after this run. */
  to: number;
  /** Newest version this code knows. */
  latest: number;
  applied: AppliedMigration[];
}

export interface MigrateOptions {
  /** Default: the files in MIGRATIONS_DIR. Tests pass their own list. */
  migrations?: Migration[];
  /** Called after each migration commits (the CLI prints a progress line). */
  onApplied?: (m: AppliedMigration) => void;
}

/** Reads and validates the migration files: numbered names, no duplicate or missing version. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_NAME.exec(file);
    if (!m) throw new Error(`${join(dir, file)}: a migration file is named NNN_name.sql (digits, underscore, lower-case name)`);
    migrations.push({ version: Number(m[1]), name: m[2]!, file, sql: readFileSync(join(dir, file), 'utf8') });
  }
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    // Versions are 1, 2, 3…: a gap or a duplicate means a file was lost or two branches collided.
    if (m.version !== i + 1) throw new Error(`${join(dir, m.file)}: expected migration version ${i + 1}, found ${m.version}`);
  });
  return migrations;
}

/** Applies every pending migration; see the module comment for the guarantees. */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? loadMigrations();
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const applied: AppliedMigration[] = [];
  let from: number | undefined;
  for (;;) {
    // One transaction per step: lock, read the version under the lock, apply at most one.
    const step = await inTransaction(db, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATE_LOCK_KEY]);
      const current = await currentVersion(client);
      if (current > latest) throw new SchemaTooNewError(current, latest);
      from ??= current;
      const next = migrations.find((m) => m.version === current + 1);
      if (!next) return { current, done: true as const };
      const started = performance.now();
      try {
        // Simple query protocol (no parameters): a migration file may hold many statements.
        await client.query(next.sql);
      } catch (err) {
        throw new MigrationError(next.version, next.file, err instanceof Error ? err.message : String(err));
      }
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [next.version, next.name]);
      const done: AppliedMigration = { version: next.version, name: next.name, file: next.file, ms: Math.round(performance.now() - started) };
      return { current: next.version, done: false as const, applied: done };
    });
    if (step.done) return { from: from ?? step.current, to: step.current, latest, applied };
    applied.push(step.applied);
    options.onApplied?.(step.applied);
  }
}

/** Highest applied version; creates schema_migrations on an empty database (under the lock). */
async function currentVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (exists.rows[0]?.t == null) {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    return 0;
  }
  const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return r.rows[0]?.v ?? 0;
}

