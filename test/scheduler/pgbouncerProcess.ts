/**
 * A real PgBouncer for tests, in transaction pooling with a tiny server pool (so clients share
 * server connections, which is what breaks session advisory locks and LISTEN). Generated ini in
 * a temp dir; run as user postgres when we are root (pgbouncer refuses to run as root); stopped
 * with SIGTERM, then SIGKILL, at teardown.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Test } from 'tap';
import { freePort } from '../helpers/supervisedService.js';
import { sleep } from '../helpers/wait.js';

export function pgbouncerAvailable(): boolean {
  return spawnSync('which', ['pgbouncer']).status === 0;
}

/** Starts pgbouncer in front of the server of `databaseUrl`; returns the same URL through it. */
export async function startPgbouncer(t: Test, databaseUrl: string, poolSize = 1): Promise<string> {
  const server = new URL(databaseUrl);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hydra-pgbouncer-'));
  const user = decodeURIComponent(server.username || 'postgres');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 100',
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    ].join('\n') + '\n',
  );
  const root = process.getuid?.() === 0;
  if (root) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (pw.status !== 0) throw new Error('running as root and there is no postgres user for pgbouncer to run as');
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, f), Number(pw.stdout), Number(gid.stdout));
  }
  const child = spawn('pgbouncer', [...(root ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  t.teardown(async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exit;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  // Ready when a query goes through.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`pgbouncer exited at start: ${output}${readLog(dir)}`);
    const c = new pg.Client({ connectionString: url.toString() });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return url.toString();
    } catch (err) {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`pgbouncer did not answer on port ${port}: ${String(err)} ${output}${readLog(dir)}`);
      await sleep(50); // poll interval until PgBouncer answers
    }
  }
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'pgbouncer.log'), 'utf8');
  } catch {
    return '';
  }
}
