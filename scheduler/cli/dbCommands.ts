/**
 * `hydra db migrate [--json]`: applies the scheduler's pending migrations to DATABASE_URL. One
 * progress line per migration, then a one-line summary (or one JSON document with --json).
 * Unreachable database, a failed migration, or a schema newer than this code: one line, exit 1.
 */
import pg from 'pg';
import { EXIT_OK, helpOr, parseCommandArgs, type Command } from '../../bin/cli.js';
import { migrate } from '../store/migrate.js';

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL: not set; expected a connection string such as postgres://user@host:5432/hydra');
  return url;
}

const migrateCommand: Command = {
  path: ['db', 'migrate'],
  summary: "apply the scheduler's pending database migrations (DATABASE_URL)",
  usage: 'hydra db migrate [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as { json?: boolean };
    const url = databaseUrl();
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    // An idle client that loses its server emits 'error'; unheard, that would crash the CLI.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`cannot reach the database at ${redactUrl(url)}: ${err instanceof Error ? err.message || (err as { code?: string }).code : String(err)}`);
    }
    try {
      const result = await migrate(client, {
        onApplied: values.json ? undefined : (m) => process.stdout.write(`applied ${m.file} (${m.ms} ms)\n`),
      });
      if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.applied.length === 0) process.stdout.write(`database already at version ${result.to}; nothing to do\n`);
      else process.stdout.write(`database migrated from version ${result.from} to ${result.to} (${result.applied.length} migration(s) applied)\n`);
      return EXIT_OK;
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};

export const dbCommands: Command[] = [migrateCommand];
