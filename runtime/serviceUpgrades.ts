/**
 * WebSocket upgrades of a service's HTTP server: the manifest's `websocket` endpoint (exact path
 * `<mount><path>`), 404 `{ error }` for any other path. `ws` is imported on the first upgrade
 * only, so services without one never load it. closeServer says goodbye to the clients through
 * `webSocketsOf`.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { reasonOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { refusedTarget } from './requestTarget.js';
import type { ServiceContext, WebSocketEndpoint } from './serviceTypes.js';
import type { ApiAuth } from './apiAuth.js';
import { neededRole } from './routeAuth.js';
import type { OriginCheck } from './webSocketOrigin.js';

/** Largest WebSocket message accepted; a bigger one closes the connection (1009). */
export const MAX_WS_PAYLOAD = 64 * 1024;

/** The WebSocket server of each HTTP server, so closeServer can say goodbye to its clients. */
const webSockets = new WeakMap<Server, WebSocketServer>();

export function webSocketsOf(server: Server): WebSocketServer | undefined {
  return webSockets.get(server);
}

export interface UpgradeOptions {
  endpoint: WebSocketEndpoint | undefined;
  mount: string;
  ctx: ServiceContext;
  /** The instance state, handed to each connection. */
  state: unknown;
  log: Logger;
  onRequest: () => void;
  /** The upgrade request's API token, checked like a GET route's. */
  auth: ApiAuth;
  /** Whether a browser page of that Origin may connect (webSocketOrigin.ts). */
  originAllowed: OriginCheck;
}

export function serveUpgrades(server: Server, options: UpgradeOptions): void {
  const { endpoint, mount } = options;
  let wss: Promise<WebSocketServer> | undefined;
  server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refused = refusedTarget(raw.url);
    if (refused !== null) {
      const body = JSON.stringify({ error: refused });
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    for (const name of Object.keys(raw.headers)) if (name.startsWith('x-hydra-')) delete raw.headers[name];
    const pathname = new URL(raw.url ?? '/', 'http://service.invalid').pathname;
    if (!endpoint || pathname !== `${mount}${endpoint.path}`) {
      const body = JSON.stringify({ error: `no WebSocket endpoint at ${pathname}` });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    options.onRequest();
    // A client that resets while `ws` loads must not crash the process with an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const origin = raw.headers.origin;
    if (!options.originAllowed(origin, raw.headers.host)) return refuse(socket, 403, `WebSocket connections from origin ${origin} are not allowed; allowed: the node's names (HYDRA_SERVER_NAME) and HYDRA_ALLOWED_ORIGINS`);
    const needed = neededRole(endpoint.auth, 'GET');
    const checked = needed ? options.auth.check(raw.headers, needed) : Promise.resolve(null);
    checked.then(
      (refused) => {
        if (refused) return refuse(socket, refused.status, refused.reason);
        upgrade(raw, socket, head);
      },
      () => socket.destroy(),
    );
  });

  function upgrade(raw: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!endpoint) return;
    wss ??= import('ws').then(({ WebSocketServer }) => {
      const created = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_PAYLOAD });
      webSockets.set(server, created);
      return created;
    });
    wss.then(
      (ws) =>
        ws.handleUpgrade(raw, socket, head, (client) => {
          try {
            endpoint.onConnection(client, raw, options.ctx, options.state);
          } catch (err) {
            options.log.error('websocket onConnection failed', { url: raw.url, err: reasonOf(err) });
            client.close(1011, 'internal error');
          }
        }),
      (err: unknown) => {
        options.log.error('websocket server unavailable', { err: reasonOf(err) });
        socket.destroy();
      },
    );
  }
}

const REASONS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'Service Unavailable' };

/** Answers the upgrade request with a plain HTTP error (the handshake never completes). */
function refuse(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({ error: reason });
  const challenge = status === 401 ? 'WWW-Authenticate: Bearer realm="hydra"\r\n' : '';
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n${challenge}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
