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
  });
}
