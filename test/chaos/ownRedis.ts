/**
 * A redis-server of the test's own, so it can be killed and restarted without touching the
 * shared server other tests use: a temp directory, a free port, and the production persistence
 * docs/architecture.md prescribes (AOF, `appendfsync everysec`, `noeviction`). `kill()` ends the process
 * (SIGKILL by default: a crash, not a polite shutdown) and `start()` starts it again on the same
 * directory and port, so what comes back is what the AOF held.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Teardown } from '../helpers/postgres.js';
import { freePort } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';

export interface OwnRedis {
  port: number;
  url: string;
  dir: string;
  appendfsync: 'everysec' | 'always';
  pid(): number;
  /** The server's log (the last 20 000 characters, over restarts). */
  log(): string;
  /** Kills the server with `signal` (SIGKILL: a crash) and waits until it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same directory and port; resolves once it answers PING (the AOF loaded). */
  start(): Promise<void>;
}

export interface OwnRedisOptions {
  /** `everysec` (production, the default) or `always`. */
  appendfsync?: 'everysec' | 'always';
}

export async function ownRedis(t: Teardown, options: OwnRedisOptions = {}): Promise<OwnRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-chaos-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
      '--appendfsync', options.appendfsync ?? 'everysec', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--protected-mode', 'no'];
    const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    p.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    p.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
    exited = new Promise((resolve) => p.once('exit', () => resolve()));
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor('the chaos redis-server to answer PING', async () => {
        if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}:\n${log}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          // LOADING while it replays the AOF: not ready yet.
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      }, 20_000, 20);
    } finally {
      probe.disconnect();
    }
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };

  await start();
  const redis: OwnRedis = {
    port,
    url,
    dir,
    appendfsync: options.appendfsync ?? 'everysec',
    pid: () => proc?.pid ?? 0,
    log: () => log,
    kill: (signal = 'SIGKILL') => kill(signal),
    start,
  };
  t.teardown(async () => {
    await kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return redis;
}
