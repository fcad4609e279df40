/**
 * Human output of `hydra node status` and `hydra node tree`: pure functions from the admin
 * API's tree report to text (the `--json` variants print the report itself).
 */
import type { ChildInfo } from '../supervisor/types.js';
import type { NodeTreeReport } from './adminRoutes.js';
import { walk } from './metrics.js';

/** 12s, 3m02s, 2h03m, 4d02h: two units are enough to read at a glance. */
export function formatDuration(ms: number | null): string {
  if (ms === null || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/** Service instances: the workers under `services`. */
function serviceInstances(tree: ChildInfo): ChildInfo[] {
  const services = tree.children?.find((c) => c.id === 'services');
  return services ? walk(services).map((x) => x.child).filter((c) => c.kind === 'worker') : [];
}

export function renderStatus(r: NodeTreeReport): string {
  const instances = serviceInstances(r.tree);
  const running = instances.filter((c) => c.state === 'running').length;
  const restarts = walk(r.tree).reduce((n, x) => n + x.child.restarts, 0);
  const facts: Array<[string, string]> = [
    ['node', r.nodeId],
    ['state', r.tree.state],
    ['pid', String(r.pid)],
    ['version', r.version],
    ['admin', r.adminUrl],
    ['started', `${r.startedAt} (up ${formatDuration(r.uptimeMs)})`],
    ['services', `${running} of ${instances.length} instance(s) running`],
    ['restarts', String(restarts)],
  ];
  const width = Math.max(...facts.map(([k]) => k.length));
  return facts.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** The tree drawn with ├── └──, one row per child, columns aligned. */
export function renderTree(r: NodeTreeReport): string {
  const rows: string[][] = [['CHILD', 'PID', 'STATE', 'RESTARTS', 'VERSION', 'UPTIME']];
  const row = (label: string, c: ChildInfo) => {
    const name = c.strategy ? `${label} (${c.strategy})` : label;
    rows.push([name, c.pid === null ? '-' : String(c.pid), c.state, String(c.restarts), c.version ?? '-', formatDuration(c.uptimeMs)]);
  };
  const visit = (c: ChildInfo, prefix: string) => {
    const children = c.children ?? [];
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      row(`${prefix}${last ? '└── ' : '├── '}${child.id}`, child);
      visit(child, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  row(r.tree.id, r.tree);
  visit(r.tree, '');
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((cells) => [...cells[i]!].length)));
  const lines = rows.map((cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join('  '));
  return [`node ${r.nodeId} (hydra ${r.version}, pid ${r.pid}, up ${formatDuration(r.uptimeMs)}, admin ${r.adminUrl})`, ...lines, ...failures(r.tree)].join('\n');
}

/**
 * Below the tree: each child whose last exit was abnormal (failed, parked, starting again, or
 * running again after a crash), with that exit, when it is tried again, and the stack it sent.
 */
function failures(tree: ChildInfo, now = Date.now()): string[] {
  const failed = walk(tree).filter(({ child }) => child.lastExit && !child.lastExit.normal);
  return failed.flatMap(({ path, child }) => {
    const exit = child.lastExit!;
    const retry = child.retryAt !== undefined ? ` (next start in ${formatDuration(Math.max(0, child.retryAt - now))})` : '';
    const how = child.state === 'failed' ? 'failed' : child.state === 'running' ? 'running again; last exit' : `${child.state} after failing`;
    const stack = exit.stack ? exit.stack.split('\n').map((l) => `    ${l}`) : [];
    return ['', `${path} ${how}: ${exit.reason}${retry}`, ...stack];
  });
}
