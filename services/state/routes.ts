/**
 * The state service's HTTP routes (under /state): the site view, the filtered item list and the
 * SSE stream (a snapshot, then the changes); docs/api.md describes them. Every filter goes through selector.ts, so a bad value is a 400 whose
 * body names the parameter (`{ error: "device: 'x' is not an id (…)" }`).
 */
import type { ServerResponse } from 'node:http';
import { HttpError, type HttpRoute, type ServiceContext } from '../../runtime/sdk.js';
import type { StateChangeV1 } from '../messages.js';
import { countByStatus, type LiveState } from './liveState.js';
import { clientOf, type StreamLimits } from './streamLimits.js';
import { matchesChange, SelectorError, selectorFromQuery, uint32, type ItemState, type Selector } from './selector.js';

export interface RouteOptions {
  /** Comment line sent on an idle SSE stream, so proxies keep it open. Default 15 s. */
  ssePingMs?: number;
  /** Unsent bytes after which an SSE client is cut as too slow. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Live streams (SSE and WebSocket) in total and per client; absent: no cap (tests). */
  limits?: StreamLimits;
}

/** What the routes read from the instance state. */
export interface RouteState {
  live: LiveState;
  settings: RouteOptions;
}

export const stateRoutes: HttpRoute<RouteState>[] = [
  { method: 'GET', path: '/sites/:site', handler: (req, _ctx, { live }) => ({ body: siteView(live, parse(() => uint32('site', req.params.site))) }) },
  {
    method: 'GET',
    path: '/items',
    handler: (req, _ctx, { live }) => {
      const items = live.select(parse(() => selectorFromQuery(req.query, ['site', 'device', 'item', 'status'])));
      return { body: { count: items.length, items } };
    },
  },
  {
    method: 'GET',
    path: '/stream',
    handler: (req, ctx, { live, settings }) => {
      const sel = parse(() => selectorFromQuery(req.query, ['site', 'device', 'item', 'status', 'field']));
      const client = clientOf(req.raw);
      const refused = settings.limits?.take(client) ?? null;
      if (refused) throw new HttpError(refused.status, refused.reason);
      if (settings.limits) req.res.on('close', () => settings.limits!.release(client));
      stream(live, sel, req.res, ctx, settings);
    },
  },
];

/** Every item of a site, grouped by device, with counts by status (all statuses, 0 when none). */
export function siteView(live: LiveState, site: number) {
  const items = live.select({ site });
  const byDevice = new Map<number, ItemState[]>();
  for (const s of items) {
    const list = byDevice.get(s.device);
    if (list) list.push(s);
    else byDevice.set(s.device, [s]);
  }
  // A site with no state yet answers empty rather than 404: it may exist in the fleet and not have reported.
  return {
    site,
    count: items.length,
    counts: countByStatus(items),
    devices: [...byDevice].map(([device, list]) => ({ device, count: list.length, counts: countByStatus(list), items: list })),
  };
}

function parse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SelectorError) throw new HttpError(400, err.message);
    throw err;
  }
}

/**
 * SSE: first `event: snapshot` with `{ items }`, the current state of every selected item (as
 * the WebSocket answers a bind, so a screen needs no second request to start), then `event:
 * change` with the StateChangeV1 JSON per matching change, `: ping` when idle. A reconnecting
 * EventSource gets a fresh snapshot, which covers whatever it missed.
 */
function stream(live: LiveState, sel: Selector, res: ServerResponse, ctx: ServiceContext, options: RouteOptions): void {
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // nginx buffers proxied responses by default, which would hold events back.
    'x-accel-buffering': 'no',
  });
  res.write(': connected\nretry: 2000\n\n');
  const count = (name: string, by: number) => void (ctx.counters[name] = (ctx.counters[name] ?? 0) + by);
  count('sse_clients', 1);

  const write = (text: string): void => {
    if (res.writableLength > maxBuffered) {
      count('sse_dropped_slow', 1);
      res.destroy();
      return;
    }
    res.write(text);
  };
  // Snapshot and subscription in one synchronous step: no change can fall between them.
  write(`event: snapshot\ndata: ${JSON.stringify({ items: live.select(sel) })}\n\n`);
  const unsubscribe = live.subscribe((change: StateChangeV1) => {
    if (matchesChange(sel, change)) write(`event: change\ndata: ${JSON.stringify(change)}\n\n`);
  });
  const pinger = setInterval(() => write(': ping\n\n'), options.ssePingMs ?? 15_000);
  res.on('close', () => {
    clearInterval(pinger);
    unsubscribe();
    count('sse_clients', -1);
  });
}
