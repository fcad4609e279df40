/**
 * `hydra db migrate [--json]`: applies the scheduler's pending migrations to DATABASE_URL. One
 * progress line per migration, then a one-line summary (or one JSON document with --json).
 * Unreachable database, a failed migration, or a schema newer than this code: one line, exit 1.
 */
import { EXIT_OK, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { migrate } from '../store/migrate.js';
import { withDatabase } from './database.js';

const migrateCommand: Command = {
  path: ['db', 'migrate'],
  summary: "apply the scheduler's pending database migrations (DATABASE_URL)",
  usage: 'hydra db migrate [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const values = p.values as { json?: boolean };
    return withDatabase(async (client) => {
      const result = await migrate(client, {
        onApplied: values.json ? undefined : (m) => process.stdout.write(`applied ${m.file} (${m.ms} ms)\n`),
      });
      if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.applied.length === 0) process.stdout.write(`database already at version ${result.to}; nothing to do\n`);
      else process.stdout.write(`database migrated from version ${result.from} to ${result.to} (${result.applied.length} migration(s) applied)\n`);
      return EXIT_OK;
    });
  },
};

export const dbCommands: Command[] = [migrateCommand];
