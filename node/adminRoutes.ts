/**
 * The admin HTTP routes of a node: health, the supervision tree, Prometheus metrics, restart a
 * child by path, graceful stop. JSON in and out (metrics: Prometheus text). Bound to loopback by
 * default and unauthenticated: reach it from elsewhere only through nginx's admin location.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ChildInfo } from '../supervisor/types.js';
import { procRss, renderMetrics, walk } from './metrics.js';

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

/**
 * What `POST /admin/restart/<path>` answers: the child as it runs after the restart; or, for
 * the admin server itself (or a supervisor above it), `child: null` and status 202, since the
 * answer must leave before the server closes.
 */
export interface RestartReport {
  path: string;
  previousPid: number | null;
  child: ChildInfo | null;
}

/** The root as the routes need it (a Supervisor). */
export interface AdminRoot {
  info(): ChildInfo;
  /** Accepts `a/b/c` paths through nested supervisors. */
  restartChild(path: string): Promise<void>;
}

export interface AdminContext {
  nodeId: string;
  version: string;
  /** Epoch ms. */
  startedAt: number;
  adminUrl(): string;
  /** Path of the admin server's own child, e.g. `system/admin-http`. */
  adminPath: string;
  root(): AdminRoot;
  /** Begins the graceful stop of the node; called once the answer has been sent. */
  stop(): void;
}

export class UnknownChildError extends Error {
  override readonly name = 'UnknownChildError';
  constructor(
    readonly path: string,
    nodeId: string,
  ) {
    super(`no child '${path}' in the tree of node ${nodeId}`);
  }
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

function find(ctx: AdminContext, path: string): ChildInfo {
  const child = walk(ctx.root().info()).find((c) => c.path === path)?.child;
  if (!child) throw new UnknownChildError(path, ctx.nodeId);
  return child;
}

/** Restarts the child at `path` (`services/parse#1`; a leading `node/` is allowed) and returns it as it runs now. */
export async function restartByPath(ctx: AdminContext, path: string): Promise<RestartReport> {
  const p = normalise(path);
  const before = find(ctx, p);
  await ctx.root().restartChild(p);
  return { path: p, previousPid: before.pid, child: find(ctx, p) };
}

const ROUTES: Record<string, string> = { '/healthz': 'GET', '/admin/tree': 'GET', '/metrics': 'GET', '/admin/stop': 'POST' };

export function adminHandler(ctx: AdminContext): RequestListener {
  return (req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      const status = err instanceof UnknownChildError ? 404 : err instanceof URIError ? 400 : 500;
      if (!res.headersSent) json(res, status, { error: err instanceof Error ? err.message : String(err) });
      else res.end();
    });
  };
}

async function route(ctx: AdminContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const allowed = path.startsWith('/admin/restart/') ? 'POST' : ROUTES[path];
  if (allowed === undefined) return json(res, 404, { error: `no route ${path}; try /healthz, /admin/tree, /metrics, POST /admin/restart/<child path>, POST /admin/stop` });
  if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
    res.setHeader('allow', allowed);
    return json(res, 405, { error: `${method} ${path} is not allowed; use ${allowed}` });
  }
  req.resume(); // no route reads a body; drain it so keep-alive works
  switch (path) {
    case '/healthz': {
      const state = ctx.root().info().state;
      return json(res, state === 'running' ? 200 : 503, { status: state === 'running' ? 'ok' : state, nodeId: ctx.nodeId, uptimeMs: Date.now() - ctx.startedAt });
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
      const target = normalise(decodeURIComponent(path.slice('/admin/restart/'.length)));
      // Restarting the admin server from inside one of its own requests would wait on itself.
      if (ctx.adminPath === target || ctx.adminPath.startsWith(`${target}/`)) {
        const report: RestartReport = { path: target, previousPid: find(ctx, target).pid, child: null };
        // A failed restart is reported (and logged) by its supervisor; nobody is left to answer here.
        res.once('finish', () => void ctx.root().restartChild(target).catch(() => undefined));
        return json(res, 202, report);
      }
      return json(res, 200, await restartByPath(ctx, target));
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
