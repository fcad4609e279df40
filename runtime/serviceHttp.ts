/**
 * The HTTP side of a service instance: the manifest's routes mounted under `/<name>/`, and the
 * runtime's own `GET /healthz` and `GET /_hydra/openapi.json` (openApiDocument.ts). This is the
 * port nginx proxies, so it serves no functions (those are on the private functions listener,
 * functionsListener.ts), refuses a target with `\`, dot segments or their encodings (400,
 * requestTarget.ts) and drops every client-sent `x-hydra-*` header before a route sees it.
 * Errors are JSON `{ error }` (httpAnswer.ts): 404
 * for an unknown route, 405 for a known path with another method, 413 for a body over 1 MiB
 * (requestBody.ts), the HttpError's status, else 500 with the error's message. A manifest's
 * `websocket` endpoint is served on the same port (serviceUpgrades.ts). A route (and the WebSocket)
 * asks for an API token of the role it declares (routeAuth.ts) before its body is read: 401 with
 * `WWW-Authenticate: Bearer`, 403 for a role too low, 503 when tokens cannot be checked (apiAuth.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { reasonOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { errorAnswer, respond, send, sendError } from './httpAnswer.js';
import { loadServiceOpenApi, OPENAPI_PATH, type OpenApiDocument } from './openApiDocument.js';
import { bodyWithinLimit } from './requestBody.js';
import { RouteTable } from './routeTable.js';
import { refusedTarget } from './requestTarget.js';
import { HttpError } from './httpError.js';
import type { HttpRequest, ServiceContext, ServiceHealth, ServiceManifest } from './serviceTypes.js';
import { serveUpgrades, webSocketsOf } from './serviceUpgrades.js';
import { apiAuthFromEnv, type ApiAuth } from './apiAuth.js';
import { neededRole } from './routeAuth.js';
import { originCheckFromEnv } from './webSocketOrigin.js';

export { MAX_REQUEST_BYTES } from './requestBody.js';
export { MAX_WS_PAYLOAD } from './serviceUpgrades.js';

export interface ServiceHttpOptions {
  manifest: ServiceManifest;
  ctx: ServiceContext;
  /** The instance state init returned, handed to every route, function and WebSocket connection. */
  state?: unknown;
  log: Logger;
  health: () => ServiceHealth;
  /** Called once per request to a route (not for /healthz, which is polled). */
  onRequest: () => void;
  /** The service's module file: its OpenAPI document is looked for beside it (openApiDocument.ts). */
  moduleFile?: string;
  /** Checks API tokens for routes that need a viewer or operator; default: against DATABASE_URL (apiAuth.ts). */
  auth?: ApiAuth;
}

export function createServiceHttp(options: ServiceHttpOptions): Server {
  const mount = options.manifest.mount ?? `/${options.manifest.name}`;
  const auth = options.auth ?? apiAuthFromEnv(process.env);
  const serve = requestServer(options, mount, auth);
  const server = createServer((raw, res) => {
    serve(raw, res).catch((err: unknown) => {
      const { status, reason } = errorAnswer(err);
      if (status >= 500) options.log.error('http handler failed', { method: raw.method, url: raw.url, err: reasonOf(err) });
      if (res.headersSent) return void res.destroy();
      sendError(res, status, reason);
    });
  });
  serveUpgrades(server, { endpoint: options.manifest.websocket, mount, ctx: options.ctx, state: options.state, log: options.log, onRequest: options.onRequest, auth, originAllowed: originCheckFromEnv(process.env) });
  server.on('close', () => void auth.close());
  return server;
}

/** One request, by path: /healthz, the runtime's OpenAPI document, then the manifest's routes. */
function requestServer(options: ServiceHttpOptions, mount: string, auth: ApiAuth): (raw: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { manifest, ctx, state } = options;
  const routes = new RouteTable(manifest.http ?? []);
  let openApi: OpenApiDocument | null | undefined;
  return async (raw, res) => {
    const refused = refusedTarget(raw.url);
    if (refused !== null) return sendError(res, 400, refused);
    dropHydraHeaders(raw);
    const pathname = new URL(raw.url ?? '/', 'http://service.invalid').pathname;
    if (pathname === '/healthz') return serveHealth(res, options);
    options.onRequest();
    if (pathname === OPENAPI_PATH) {
      if (raw.method !== 'GET') return sendError(res, 405, `the OpenAPI document is read with GET, not ${raw.method}`, { allow: 'GET' });
      openApi ??= options.moduleFile ? loadServiceOpenApi(options.moduleFile, mount) : null;
      return openApi ? send(res, 200, openApi) : sendError(res, 404, `service ${ctx.service} ships no OpenAPI document`);
    }
    if (pathname !== mount && !pathname.startsWith(`${mount}/`)) return sendError(res, 404, `no route ${raw.method} ${pathname}; this service serves under ${mount}/`);
    return serveRoute(raw, res, routes, ctx, state, pathname, mount, auth);
  };
}

/**
 * `x-hydra-*` headers are the node's own (a caller's role, the node secret): nothing from the
 * public side may claim them. nginx clears the known ones too; this is the guarantee.
 */
export function dropHydraHeaders(raw: IncomingMessage): void {
  for (const name of Object.keys(raw.headers)) if (name.startsWith('x-hydra-')) delete raw.headers[name];
}

function serveHealth(res: ServerResponse, options: ServiceHttpOptions): void {
  const health = options.health();
  const { ctx } = options;
  send(res, health.healthy ? 200 : 503, { ...health, service: ctx.service, version: ctx.version, instance: ctx.instance });
}

/** A manifest route: 404/405 when none fits, the body read (413 over the limit), the handler's answer. */
async function serveRoute(raw: IncomingMessage, res: ServerResponse, routes: RouteTable, ctx: ServiceContext, state: unknown, pathname: string, mount: string, auth: ApiAuth): Promise<void> {
  const method = raw.method ?? 'GET';
  const path = pathname.slice(mount.length).replace(/\/+$/, '') || '/';
  const found = routes.find(method, path);
  if (found === null) return sendError(res, 404, `no route ${method} ${pathname}`);
  if ('allow' in found) return sendError(res, 405, `method ${method} is not allowed on ${pathname}`, { allow: found.allow.join(', ') });
  const needed = neededRole(found.route.auth, method);
  const refused = needed && (await auth.check(raw.headers, needed));
  if (refused) return sendError(res, refused.status, refused.reason, refused.status === 401 ? { 'www-authenticate': 'Bearer realm="hydra"' } : undefined);
  const body = await bodyWithinLimit(raw, res);
  if (body === null) return;
  const req: HttpRequest = {
    method,
    path,
    params: found.params,
    query: new URL(raw.url ?? '/', 'http://service.invalid').searchParams,
    headers: raw.headers,
    body,
    json<T>(): T {
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch (err) {
        throw new HttpError(400, `request body is not valid JSON (${(err as Error).message})`);
      }
    },
    raw,
    res,
  };
  const result = await found.route.handler(req, ctx, state);
  // undefined: the handler answers on req.res itself (SSE, streaming).
  if (result !== undefined) respond(res, result);
}

/** Listens on 127.0.0.1 (nginx on the same node is the only way in) and resolves with the port. */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/**
 * Stops accepting, lets requests in progress finish for up to `graceMs`, then cuts what is left
 * (an SSE stream never finishes by itself; its clients reconnect to the new instance).
 */
export async function closeServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Upgraded sockets are outside the HTTP server's connection tracking but still keep it open:
  // WebSocket clients are told 1001 (going away) at once so they reconnect to the next
  // instance, and cut with the rest when the grace ends.
  const wss = webSocketsOf(server);
  for (const client of wss?.clients ?? []) client.close(1001, 'service stopping');
  const timer = setTimeout(() => {
    server.closeAllConnections();
    for (const client of wss?.clients ?? []) client.terminate();
  }, graceMs);
  await closed;
  clearTimeout(timer);
}
