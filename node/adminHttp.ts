/**
 * The admin HTTP server as an in-process child of the `system` supervisor: start = listen (a
 * bind failure is a start failure), stop = stop accepting, let requests in flight finish for up
 * to the shutdown time, then cut the connections left. With port 0 the port chosen at the first
 * bind is kept for later restarts, so the URL in node.json stays right.
 */
import { SHUTDOWN_MS } from '../supervisor/defaults.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StartError } from '../supervisor/errors.js';
import type { ChildHandle, ChildSpec, ExitReason, Shutdown } from '../supervisor/types.js';

export interface AdminHttpOptions {
  id?: string;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  handler: http.RequestListener;
  /** Called after every successful bind with the URL clients should use. */
  onListening?: (url: string) => void;
  shutdownMs?: number;
}

/** The URL a local client uses: a wildcard bind is reached on loopback; IPv6 goes in brackets. */
export function clientUrl(host: string, port: number): string {
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

export function adminHttpChild(options: AdminHttpOptions): ChildSpec {
  const id = options.id ?? 'admin-http';
  let port = options.port;
  return {
    id,
    kind: 'worker',
    restart: 'permanent',
    shutdown: options.shutdownMs ?? SHUTDOWN_MS,
    start: async () => {
      const handle = await listen(id, options.host, port, options.handler);
      port = handle.port;
      options.onListening?.(clientUrl(options.host, port));
      return handle;
    },
  };
}

interface AdminHandle extends ChildHandle {
  readonly port: number;
}

function listen(id: string, host: string, port: number, handler: http.RequestListener): Promise<AdminHandle> {
  const server = http.createServer(handler);
  // Admin answers are small and quick; a client that holds a socket open must not delay stop.
  server.keepAliveTimeout = 2_000;
  return new Promise((resolve, reject) => {
    const onStartError = (err: Error) => reject(new StartError(id, `cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onStartError);
    server.listen(port, host, () => {
      server.off('error', onStartError);
      resolve(handleFor(server));
    });
  });
}

function handleFor(server: http.Server): AdminHandle {
  let stopping = false;
  let done!: (r: ExitReason) => void;
  const exited = new Promise<ExitReason>((r) => (done = r));
  // A server error after the bind (rare: the socket failing) ends the child abnormally; its
  // supervisor restarts it.
  server.on('error', (err) => {
    server.closeAllConnections();
    server.close();
    done({ normal: false, code: null, signal: null, reason: `admin server failed: ${err.message}` });
  });
  server.on('close', () => done({ normal: stopping, code: null, signal: null, reason: stopping ? 'stopped' : 'admin server closed' }));
  return {
    // In-process: it lives in the daemon, as the supervisors do.
    pid: process.pid,
    port: (server.address() as AddressInfo).port,
    exited,
    status: () => null,
    stop: (shutdown: Shutdown) => {
      stopping = true;
      server.close();
      server.closeIdleConnections();
      if (shutdown === 'brutal_kill') server.closeAllConnections();
      else if (shutdown !== 'infinity') setTimeout(() => server.closeAllConnections(), shutdown).unref();
      return exited;
    },
  };
}
