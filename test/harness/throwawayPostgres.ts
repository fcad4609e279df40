/**
 * A throwaway PostgreSQL cluster for one `npm test` run: initdb in a fresh temp directory,
 * trust authentication on its own socket directory and 127.0.0.1 only, a free port, durability
 * off (nothing in it outlives the run). As root it runs as the `postgres` OS user, because
 * initdb and postgres refuse root. `stop()` shuts it down and removes the directory.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../helpers/freePort.js';
import { startServer, waitReady } from './serverProcess.js';

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dir: string;
  version: string;
  /** The postmaster's pid. */
  pid: number;
  stop(): Promise<void>;
}

/** Enough for two tap jobs, each test with its own pools and its nodes' (the system default is 100). */
const MAX_CONNECTIONS = 200;

export class ThrowawayPostgresError extends Error {}

/** The uid/gid to run PostgreSQL as: ourselves, or `postgres` when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new ThrowawayPostgresError('running as root, and there is no postgres OS user to run the throwaway PostgreSQL as (initdb refuses root): apt-get install postgresql creates it, or set DATABASE_URL');
  }
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

export async function startThrowawayPostgres(binDir: string): Promise<ThrowawayPostgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-test-postgres-'));
  try {
    const user = runAs();
    const data = path.join(dir, 'data');
    mkdirSync(data, { mode: 0o700 });
    if (user) for (const d of [dir, data]) chownSync(d, user.uid, user.gid);
    const version = path.basename(path.dirname(binDir));
    const initdb = spawnSync(path.join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions'], {
      cwd: dir,
      encoding: 'utf8',
      ...(user ?? {}),
    });
    if (initdb.status !== 0) throw new ThrowawayPostgresError(`initdb of the throwaway PostgreSQL in ${data} failed (exit ${initdb.status ?? initdb.signal}):\n${initdb.stdout}${initdb.stderr}`);

    // freePort can race another process for the port; a second or third pick settles it.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = startServer({
        name: 'PostgreSQL',
        command: path.join(binDir, 'postgres'),
        args: [
          '-D', data,
          '-p', String(port),
          '-k', dir,
          '-c', 'listen_addresses=127.0.0.1',
          '-c', `max_connections=${MAX_CONNECTIONS}`,
          // A crash loses a throwaway cluster anyway: skip the disk flushes.
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
        ],
        logFile: path.join(dir, 'postgres.log'),
        cwd: dir,
        ...(user ?? {}),
        stopSignal: 'SIGINT',
      });
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      try {
        await waitReady('the throwaway PostgreSQL', server, async () => {
          const client = new pg.Client({ connectionString: url });
          client.on('error', () => undefined);
          try {
            await client.connect();
            await client.query('SELECT 1');
            return true;
          } finally {
            await client.end().catch(() => undefined);
          }
        });
      } catch (err) {
        await server.stop();
        if (attempt < 3 && /could not bind|Address already in use/.test(server.logTail())) continue;
        throw err;
      }
      return {
        url,
        port,
        dir,
        version,
        pid: server.pid,
        async stop() {
          await server.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
