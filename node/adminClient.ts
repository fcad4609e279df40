/**
 * The CLI's side of the admin API: find the running node through `$HYDRA_HOME/run/node.json`
 * and call its admin HTTP. Every failure becomes one line saying what to do next.
 */
import { isAlive, nodeFilePath, readNodeFile, type NodeFile } from './pidFile.js';

/** The running node, or an Error for `hydra node <verb>: …` (exit 1). */
export function locateNode(home: string): NodeFile {
  const file = nodeFilePath(home);
  const node = readNodeFile(home);
  if (!node) throw new Error(`no node running (no ${file}); start one with 'hydra node start'`);
  if (!isAlive(node.pid)) throw new Error(`no node running (${file} names pid ${node.pid}, which is gone); start one with 'hydra node start'`);
  return node;
}

export interface AdminAnswer<T> {
  status: number;
  body: T;
}

/** Calls the admin API; non-2xx answers throw their `error` message. */
export async function adminCall<T>(node: NodeFile, method: 'GET' | 'POST', path: string, timeoutMs = 15_000): Promise<AdminAnswer<T>> {
  let res: Response;
  try {
    res = await fetch(`${node.adminUrl}${path}`, { method, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
    throw new Error(`node ${node.nodeId} (pid ${node.pid}) does not answer at ${node.adminUrl}: ${why}`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics are text; anything else unparseable is reported below as is
  }
  if (!res.ok) {
    const message = (body as { error?: unknown } | null)?.error;
    throw new Error(typeof message === 'string' ? message : `${method} ${path} answered HTTP ${res.status}`);
  }
  return { status: res.status, body: body as T };
}

/** A child path as a URL path: each segment encoded, so `#` in `parse#1` is not a fragment. */
export function childPathUrl(childPath: string): string {
  return childPath.split('/').map(encodeURIComponent).join('/');
}
