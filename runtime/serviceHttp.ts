/**
 * The HTTP side of a service instance: the manifest's routes mounted under `/<name>/`, and
 * `GET /healthz`. Errors are JSON `{ error }`: 404 for an unknown route, 405 for a known path
 * with another method, 413 for a body over 1 MiB, the HttpError's status, else 500 with the reason.
 * A manifest's `websocket` endpoint is served on the same port through the server's 'upgrade'
 * event; any other upgrade is answered 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { reasonOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { HttpError } from './httpError.js';
import type { HttpRequest, HttpResponse, HttpRoute, ServiceContext, ServiceHealth, ServiceManifest } from './serviceTypes.js';
import { ArgumentsError, bindArguments, ROLE_HEADER, type CallerRole, type ParamSpec } from './functionParams.js';

export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Largest WebSocket message accepted; a bigger one closes the connection (1009). */
export const MAX_WS_PAYLOAD = 64 * 1024;

/** The WebSocket server of each HTTP server, so closeServer can say goodbye to its clients. */
const webSockets = new WeakMap<Server, WebSocketServer>();

export interface ServiceHttpOptions {
  manifest: ServiceManifest;
  ctx: ServiceContext;
  /** The instance state init returned, handed to every route, function and WebSocket connection. */
  state: unknown;
  log: Logger;
  health: () => ServiceHealth;
  /** Called once per request to a route (not for /healthz, which is polled). */
  onRequest: () => void;
}

interface CompiledRoute {
  route: HttpRoute;
  segments: string[];
}

/** Outside every mount point (mounts are lower-case paths without '_' at the start). */
const FUNCTIONS_PREFIX = '/_hydra/functions/';

export function createServiceHttp(options: ServiceHttpOptions): Server {
  const { manifest, ctx, state, log } = options;
  const compiled: CompiledRoute[] = (manifest.http ?? []).map((route) => ({ route, segments: splitPath(route.path) }));
  const mount = manifest.mount ?? `/${manifest.name}`;

  const serve = async (raw: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(raw.url ?? '/', 'http://service.invalid');
    const method = raw.method ?? 'GET';
    if (url.pathname === '/healthz') {
      const health = options.health();
      return send(res, health.healthy ? 200 : 503, { ...health, service: ctx.service, version: ctx.version, instance: ctx.instance });
    }
    options.onRequest();
    if (url.pathname === FUNCTIONS_PREFIX.slice(0, -1) || url.pathname.startsWith(FUNCTIONS_PREFIX)) return callFunction(raw, res, url.pathname.slice(FUNCTIONS_PREFIX.length), method);
    if (url.pathname !== mount && !url.pathname.startsWith(`${mount}/`)) return send(res, 404, { error: `no route ${method} ${url.pathname}; this service serves under ${mount}/` });
    const path = url.pathname.slice(mount.length).replace(/\/+$/, '') || '/';
    const segments = splitPath(path);
    const onPath = compiled.map((c) => ({ c, params: match(c.segments, segments) })).filter((m) => m.params !== null);
    const hit = onPath.find((m) => m.c.route.method === method);
    if (!hit) {
      if (onPath.length === 0) return send(res, 404, { error: `no route ${method} ${url.pathname}` });
      res.setHeader('allow', [...new Set(onPath.map((m) => m.c.route.method))].join(', '));
      return send(res, 405, { error: `method ${method} is not allowed on ${url.pathname}` });
    }
    const body = await readBody(raw);
    if (body === null) {
      discardRest(raw);
      return send(res, 413, { error: `request body is over the limit of ${MAX_REQUEST_BYTES} bytes` });
    }
    const req: HttpRequest = {
      method,
      path,
      params: hit.params!,
      query: url.searchParams,
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
    const result = await hit.c.route.handler(req, ctx, state);
    // undefined: the handler answers on req.res itself (SSE, streaming).
    if (result !== undefined) respond(res, result);
  };

  const callFunction = async (raw: IncomingMessage, res: ServerResponse, name: string, method: string): Promise<void> => {
    if (name === '') {
      if (method !== 'GET') {
        res.setHeader('allow', 'GET');
        return send(res, 405, { error: `the function list is read with GET, not ${method}` });
      }
      return send(res, 200, { service: ctx.service, version: ctx.version, functions: describeFunctions(manifest.functions ?? {}) });
    }
    const fn = Object.hasOwn(manifest.functions ?? {}, name) ? manifest.functions![name] : undefined;
    if (!fn) return send(res, 404, { error: `no function '${name}' in service ${ctx.service} (functions: ${Object.keys(manifest.functions ?? {}).join(', ') || 'none'})` });
    if (method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(res, 405, { error: `functions are called with POST, not ${method}` });
    }
    const body = await readBody(raw);
    if (body === null) {
      discardRest(raw);
      return send(res, 413, { error: `request body is over the limit of ${MAX_REQUEST_BYTES} bytes` });
    }
    let args: unknown = {};
    if (body.length > 0) {
      try {
        args = (JSON.parse(body.toString('utf8')) as { args?: unknown }).args ?? {};
      } catch (err) {
        throw new HttpError(400, `request body is not valid JSON (${(err as Error).message}); expected {"args": {…}}`);
      }
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new HttpError(400, 'args must be a JSON object');
    let result: unknown;
    if (typeof fn === 'function') result = await fn(args as Record<string, unknown>, ctx, state);
    else {
      const role = raw.headers[ROLE_HEADER];
      if (fn.roles && !fn.roles.includes(role as CallerRole)) {
        throw new HttpError(403, `${name} may be called as ${fn.roles.join(' or ')} only; this call came as ${typeof role === 'string' && role !== '' ? role : 'no role'}`);
      }
      let bound: Record<string, unknown>;
      try {
        bound = bindArguments(name, fn.params, args as Record<string, unknown>);
      } catch (err) {
        if (err instanceof ArgumentsError) throw new HttpError(400, `${name}: ${err.message}`);
        throw err;
      }
      result = await fn.run(bound, ctx, state);
    }
    send(res, 200, { result: result ?? null });
  };

  const server = createServer((raw, res) => {
    serve(raw, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status >= 500) log.error('http handler failed', { method: raw.method, url: raw.url, err: reasonOf(err) });
      if (res.headersSent) return void res.destroy();
      send(res, status, { error: err instanceof HttpError ? err.message : reasonOf(err) });
    });
  });
  serveUpgrades(server, options, mount);
  return server;
}

/** What `GET /_hydra/functions` answers: each function with its parameters (plain functions take any object). */
function describeFunctions(fns: NonNullable<ServiceManifest['functions']>): Array<{ name: string; description: string | null; params: Record<string, ParamSpec> | null; roles: CallerRole[] | null }> {
  return Object.entries(fns).map(([name, fn]) =>
    typeof fn === 'function' ? { name, description: null, params: null, roles: null } : { name, description: fn.description ?? null, params: fn.params, roles: fn.roles ?? null },
  );
}

/**
 * Upgrades to the manifest's WebSocket endpoint (exact path `<mount><path>`), 404 for any other
 * path. `ws` is imported on the first upgrade only, so services without one never load it.
 */
function serveUpgrades(server: Server, options: ServiceHttpOptions, mount: string): void {
  const endpoint = options.manifest.websocket;
  let wss: Promise<WebSocketServer> | undefined;
  server.on('upgrade', (raw: IncomingMessage, socket: Duplex, head: Buffer) => {
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
  const wss = webSockets.get(server);
  for (const client of wss?.clients ?? []) client.close(1001, 'service stopping');
  const timer = setTimeout(() => {
    server.closeAllConnections();
    for (const client of wss?.clients ?? []) client.terminate();
  }, graceMs);
  await closed;
  clearTimeout(timer);
}

// ---- helpers -----------------------------------------------------------------------------

function splitPath(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/** The params when `actual` fits the route's segments, else null. */
function match(route: string[], actual: string[]): Record<string, string> | null {
  if (route.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < route.length; i++) {
    const want = route[i]!;
    const got = actual[i]!;
    if (want.startsWith(':')) {
      try {
        params[want.slice(1)] = decodeURIComponent(got);
      } catch {
        throw new HttpError(400, `path segment '${got}' is not valid percent-encoding`);
      }
    } else if (want !== got) return null;
  }
  return params;
}

/** The body, or null once it is over MAX_REQUEST_BYTES (checked on the header first, then as it streams). */
/** How much of an oversized body is read and thrown away, and for how long, before the connection is cut. */
const DISCARD_MAX_BYTES = 16 * 1024 * 1024;
const DISCARD_MAX_MS = 5_000;

/**
 * Reads and drops the rest of a refused body while the 413 goes out. Closing the connection at
 * once instead would reset it while the client is still sending, and a reset can destroy the
 * 413 in the client's receive buffer, so the client would see "connection reset" instead of the
 * reason (seen with the ingest fuzz test). A client that goes on past the limits is cut off.
 */
function discardRest(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, DISCARD_MAX_MS).unref();
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_MAX_BYTES) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function respond(res: ServerResponse, out: HttpResponse): void {
  for (const [name, value] of Object.entries(out.headers ?? {})) res.setHeader(name, value);
  send(res, out.status ?? (out.body === undefined ? 204 : 200), out.body);
}

function send(res: ServerResponse, status: number, body: HttpResponse['body']): void {
  res.statusCode = status;
  if (body === undefined) return void res.end();
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    if (!res.hasHeader('content-type')) res.setHeader('content-type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    return void res.end(body);
  }
  if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}
