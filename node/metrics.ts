/**
 * `/metrics` in the Prometheus text format (0.0.4), rendered from the supervision tree: one
 * sample per child and metric, each child named by its path (`services/parse#1`, the same path
 * `hydra node restart` takes). A pure function over the tree; resident memory of child
 * processes is looked up through an injected function (read from /proc on Linux).
 */
import { readFileSync } from 'node:fs';
import type { ChildInfo } from '../supervisor/types.js';

export interface MetricsInput {
  nodeId: string;
  version: string;
  uptimeSeconds: number;
  /** The daemon's own resident memory. */
  rssBytes: number;
  /** The root supervisor as a tree node. */
  tree: ChildInfo;
  /** Resident memory of a child process, or null when unknown. */
  childRss?: (pid: number) => number | null;
}

interface Family {
  help: string;
  type: 'gauge' | 'counter';
  samples: string[];
}

/** Label values escape backslash, double quote and newline (the format's only escapes). */
function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `{${parts.join(',')}}`;
}

/** `messagesHandled` / `http-errors` → `messages_handled` / `http_errors`, without a doubled `_total`. */
export function counterName(counter: string): string {
  const snake = counter
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .replace(/_total$/, '');
  return `hydra_service_${snake || 'unnamed'}_total`;
}

/** Every child below the root with its path, depth first in start order. */
export function walk(tree: ChildInfo, prefix = ''): Array<{ path: string; child: ChildInfo }> {
  return (tree.children ?? []).flatMap((child) => {
    const path = prefix === '' ? child.id : `${prefix}/${child.id}`;
    return [{ path, child }, ...walk(child, path)];
  });
}

export function renderMetrics(input: MetricsInput): string {
  const families = new Map<string, Family>();
  const add = (name: string, type: Family['type'], help: string, lbls: Record<string, string>, value: number) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { help, type, samples: [] }));
    f.samples.push(`${name}${labels(lbls)} ${Number.isFinite(value) ? value : 0}`);
  };
  const node = input.nodeId;
  add('hydra_node_info', 'gauge', 'The node, with its hydra version; always 1.', { node, version: input.version }, 1);
  add('hydra_node_up', 'gauge', '1 while the root supervisor is running.', { node }, input.tree.state === 'running' ? 1 : 0);
  add('hydra_node_uptime_seconds', 'gauge', 'Seconds since the node daemon started.', { node }, round(input.uptimeSeconds));
  add('hydra_node_resident_memory_bytes', 'gauge', "Resident memory of the node daemon's process.", { node }, input.rssBytes);
  for (const { path, child } of walk(input.tree)) {
    const id = { node, path };
    add('hydra_child_up', 'gauge', '1 while the child is running.', { ...id, kind: child.kind, version: child.version ?? '' }, child.state === 'running' ? 1 : 0);
    add('hydra_child_restarts_total', 'counter', 'Restarts of the child by its supervisor.', id, child.restarts);
    if (child.state === 'failed') {
      // Parked (or failed) children with why, so an alert can say which service and what broke.
      const reason = (child.lastExit?.reason ?? 'unknown').slice(0, 200);
      add('hydra_child_failed', 'gauge', 'A child that failed (parked services wait for their next start), with its last exit reason.', { ...id, reason }, 1);
    }
    add('hydra_child_uptime_seconds', 'gauge', "Seconds since the child's current run started (0 when not running).", id, round((child.uptimeMs ?? 0) / 1000));
    const rss = child.pid !== null && child.state === 'running' ? input.childRss?.(child.pid) : null;
    if (rss !== null && rss !== undefined) add('hydra_child_resident_memory_bytes', 'gauge', "Resident memory of the child's process.", id, rss);
    for (const [counter, value] of Object.entries(child.status?.counters ?? {})) {
      add(counterName(counter), 'counter', `Counter '${counter}' reported by the service.`, id, value);
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.samples);
  return `${out.join('\n')}\n`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Resident memory of a process from /proc/<pid>/status (VmRSS, in kB); null elsewhere or when gone. */
export function procRss(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
