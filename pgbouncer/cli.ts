/**
 * `hydra pgbouncer render --secret-stdin [--dir DIR] [--check] [--json] …`: renders PgBouncer's
 * pgbouncer.ini and userlist.txt for this node's DATABASE_URL (database, user, listen address and
 * port are taken from it: the services connect to exactly what is rendered) and writes the files
 * that changed (temp file + rename). The role's SCRAM secret comes on stdin, as boot.sh reads it
 * from pg_authid; it must belong to DATABASE_URL's password. `--check` writes nothing: exit 0
 * when both files are current, 1 when a render would change them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXIT_FAILURE, EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../core/cli.js';
import { renderPgbouncer } from './renderPgbouncer.js';
import { scramMatches } from './scram.js';

const USAGE =
  'hydra pgbouncer render --secret-stdin [--dir DIR (default /etc/pgbouncer)] [--server-host H (127.0.0.1)] [--server-port P (5432)] [--socket-dir DIR (/var/run/postgresql)] [--logfile F] [--pidfile F] [--check] [--json]';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

function current(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Writes `text` to `file` through a temp file in the same folder (mode 0640: the userlist holds secrets). */
function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.new`);
  try {
    writeFileSync(tmp, text, { mode: 0o640 });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function port(option: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) throw new UsageError(`--${option}: '${raw}' is not a port; expected 1 to 65535`);
  return Number(raw);
}

const render: Command = {
  path: ['pgbouncer', 'render'],
  summary: "render PgBouncer's pgbouncer.ini and userlist for DATABASE_URL (SCRAM secret on stdin); write what changed",
  usage: USAGE,
  async run(args) {
    const p = parseCommandArgs(args, {
      'secret-stdin': { type: 'boolean' },
      dir: { type: 'string' },
      'server-host': { type: 'string' },
      'server-port': { type: 'string' },
      'socket-dir': { type: 'string' },
      logfile: { type: 'string' },
      pidfile: { type: 'string' },
      check: { type: 'boolean' },
    });
    if (helpOr(p, USAGE)) return EXIT_OK;
    const v = p.values as Record<string, string | boolean | undefined>;
    if (!v['secret-stdin']) throw new UsageError("--secret-stdin is required: pipe the role's SCRAM secret from pg_authid in (boot.sh does)");
    const raw = process.env.DATABASE_URL?.trim();
    if (!raw) throw new Error("DATABASE_URL is not set; expected the services' URL through PgBouncer, e.g. postgres://hydra:<password>@127.0.0.1:6432/hydra (boot.sh writes it into /etc/hydra/hydra.env)");
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error('DATABASE_URL is not a URL; expected postgres://hydra:<password>@127.0.0.1:6432/hydra');
    }
    const user = decodeURIComponent(url.username);
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    const password = decodeURIComponent(url.password);
    if (!user || !database || !password) throw new Error('DATABASE_URL must name a user, a password and a database: postgres://hydra:<password>@127.0.0.1:6432/hydra');
    const secret = await readStdin();
    if (!scramMatches(secret, password)) {
      throw new Error(`the SCRAM secret on stdin does not belong to DATABASE_URL's password for role ${user}: PostgreSQL holds another password (or not a SCRAM secret); run boot.sh, which sets it`);
    }
    const dir = typeof v.dir === 'string' ? path.resolve(v.dir) : '/etc/pgbouncer';
    const socketDir = typeof v['socket-dir'] === 'string' ? v['socket-dir'] : '/var/run/postgresql';
    const files = renderPgbouncer({
      database,
      serverHost: typeof v['server-host'] === 'string' ? v['server-host'] : '127.0.0.1',
      serverPort: port('server-port', v['server-port'] as string | undefined, 5432),
      listenAddr: url.hostname,
      listenPort: port('DATABASE_URL port', url.port || undefined, 5432),
      unixSocketDir: socketDir,
      authFile: path.join(dir, 'userlist.txt'),
      users: [{ name: user, secret }],
      statsUsers: [user],
      logFile: typeof v.logfile === 'string' ? v.logfile : '/var/log/postgresql/pgbouncer.log',
      pidFile: typeof v.pidfile === 'string' ? v.pidfile : path.join(socketDir || '/var/run/postgresql', 'pgbouncer.pid'),
    });
    const results = [
      { file: path.join(dir, 'pgbouncer.ini'), text: files.ini },
      { file: path.join(dir, 'userlist.txt'), text: files.userlist },
    ].map(({ file, text }) => {
      const before = current(file);
      const state = before === text ? 'unchanged' : v.check ? (before === null ? 'missing' : 'differs') : before === null ? 'created' : 'updated';
      if (!v.check && state !== 'unchanged') writeAtomic(file, text);
      return { file, state };
    });
    const changed = results.filter((r) => r.state !== 'unchanged');
    if (v.json) process.stdout.write(`${JSON.stringify({ dir, database, user, listen: `${url.hostname}:${url.port}`, files: results }, null, 2)}\n`);
    else process.stdout.write(changed.length === 0 ? `pgbouncer config in ${dir} is current\n` : `${changed.map((r) => `${r.file}: ${r.state}`).join(', ')}\n`);
    return v.check && changed.length > 0 ? EXIT_FAILURE : EXIT_OK;
  },
};

export const pgbouncerCommands: Command[] = [render];
