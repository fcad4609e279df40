/**
 * A throwaway redis-server for one `npm test` run: a free port on 127.0.0.1, its own temp
 * directory, no persistence (nothing in it outlives the run). `stop()` shuts it down and
 * removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/freePort.js';
import { startServer, waitReady } from './serverProcess.js';

export interface ThrowawayRedis {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** True when the server at `port` answers PING with PONG. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function startThrowawayRedis(command = 'redis-server'): Promise<ThrowawayRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-test-redis-'));
  try {
    // freePort can race another process for the port; a second or third pick settles it.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = startServer({
        name: 'Redis',
        command,
        args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no'],
        logFile: path.join(dir, 'redis.log'),
        cwd: dir,
        stopSignal: 'SIGTERM',
      });
      try {
        await waitReady('the throwaway redis-server', server, () => pong(port));
      } catch (err) {
        await server.stop();
        if (attempt < 3 && /Address already in use/.test(server.logTail())) continue;
        throw err;
      }
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        dir,
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
