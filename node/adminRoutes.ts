/**
 * The admin HTTP routes of a node: health, the supervision tree, Prometheus metrics, restart,
 * terminate or start a child by path (node/adminChildActions.ts), graceful stop. JSON in and out
 * (metrics: Prometheus text). Bound to loopback by default and unauthenticated: reach it from
 * elsewhere only through nginx's admin location.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ChildInfo } from '../supervisor/types.js';
import { childAction, type ChildAction, type ChildActionTarget } from './adminChildActions.js';
import { procRss, renderMetrics } from './metrics.js';

/** What `GET /admin/tree` answers (and `hydra node status|tree` read). */
export interface NodeTreeReport {
  nodeId: string;
  /** The hydra version the daemon runs. */
  version: string;
  pid: number;
  adminUrl: string;
  startedAt: string;
  uptimeMs: number;
  /** The root supervisor `node`, its subtree in `children`. */
  tree: ChildInfo;
}

export interface AdminContext extends ChildActionTarget {
  version: string;
  /** Epoch ms. */
  startedAt: number;
  adminUrl(): string;
  /** Begins the graceful stop of the node; called once the answer has been sent. */
  stop(): void;
}

export function treeReport(ctx: AdminContext): NodeTreeReport {
  return {
    nodeId: ctx.nodeId,
    version: ctx.version,
    pid: process.pid,
    adminUrl: ctx.adminUrl(),
    startedAt: new Date(ctx.startedAt).toISOString(),
    uptimeMs: Date.now() - ctx.startedAt,
    tree: ctx.root().info(),
  };
}

function normalise(path: string): string {
  return path.replace(/^node\//, '').replace(/\/+$/, '');
}

const CHILD_ACTION = /^\/admin\/(restart|terminate|start)\/(.+)$/;
const ROUTES: Record<string, string> = { '/healthz': 'GET', '/admin/tree': 'GET', '/metrics': 'GET', '/admin/stop': 'POST' };

export function adminHandler(ctx: AdminContext): RequestListener {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      const status = err instanceof URIError ? 400 : 500;
      if (!res.headersSent) json(res, status, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  };
}

async function route(ctx: AdminContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const action = CHILD_ACTION.exec(path);
  const allowed = action ? 'POST' : ROUTES[path];
  if (allowed === undefined) return json(res, 404, { error: `no route ${path}; try /healthz, /admin/tree, /metrics, POST /admin/{restart,terminate,start}/<child path>, POST /admin/stop` });
  if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
    res.setHeader('allow', allowed);
    return json(res, 405, { error: `${method} ${path} is not allowed; use ${allowed}` });
  }
  req.resume(); // no route reads a body; drain it so keep-alive works
  switch (path) {
    case '/healthz': {
      const state = ctx.root().info().state;
      // Public through nginx: says whether the node is up and nothing else (its id and uptime are in /admin/tree).
      return json(res, state === 'running' ? 200 : 503, { status: state === 'running' ? 'ok' : state });
    }
    case '/admin/tree':
      return json(res, 200, treeReport(ctx));
    case '/metrics': {
      const body = renderMetrics({
        nodeId: ctx.nodeId,
        version: ctx.version,
        uptimeSeconds: (Date.now() - ctx.startedAt) / 1000,
        rssBytes: process.memoryUsage.rss(),
        tree: ctx.root().info(),
        childRss: procRss,
      });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(body);
      return;
    }
    case '/admin/stop':
      // Stop only once the answer is out: the stop closes this very server.
      res.once('finish', () => ctx.stop());
      return json(res, 202, { stopping: true, nodeId: ctx.nodeId, pid: process.pid });
    default: {
      const answer = await childAction(ctx, action![1] as ChildAction, normalise(decodeURIComponent(action![2]!)));
      if (answer.afterwards) res.once('finish', () => void answer.afterwards!().catch(() => undefined));
      return json(res, answer.status, answer.body);
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
