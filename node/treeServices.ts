/**
 * What nginx should proxy, read from the node's supervision tree: every worker under `services`
 * (nested supervisors included) that said, when it became ready, on which port it serves and
 * where its public routes are mounted. That is the node's truth in both modes: the topology's
 * static services and, in scheduled mode, the instances the reconciler started from this node's
 * placements (with the port it gave them). Grouped by mount: instances of one service (or the
 * old and new version during a hot swap) share an upstream.
 */
import type { ChildInfo } from '../supervisor/types.js';
import type { NginxService, Upstream } from '../nginx/renderNginx.js';

/** The last port and mount a child reported, by its path in the tree (`services/ingest#1`). */
export type LastSeen = Map<string, { port: number; mount: string }>;

export interface TreeServicesOptions {
  /** Host the instances listen on (they bind the loopback: the node's admin host). */
  host: string;
  /**
   * Remembered across calls: a child that is restarting has no port for a moment; it keeps its
   * last one (updated in place) so a restart does not mean two reloads. Forgotten once the child
   * is gone from the tree or has failed for good.
   */
  lastSeen?: LastSeen;
  /** Child paths to leave out (instances retiring during a hot swap). */
  exclude?: ReadonlySet<string>;
}

/** The `services` subtree of the node's root (`tree` as /admin/tree shows it), or null. */
export function servicesSubtree(root: ChildInfo): ChildInfo | null {
  return root.children?.find((c) => c.id === 'services') ?? null;
}

export function treeServices(services: ChildInfo | null, options: TreeServicesOptions): NginxService[] {
  const lastSeen = options.lastSeen ?? new Map();
  const byMount = new Map<string, NginxService>();
  const present = new Set<string>();
  const walk = (node: ChildInfo, prefix: string) => {
    for (const child of node.children ?? []) {
      const path = `${prefix}/${child.id}`;
      if (child.kind === 'supervisor') {
        walk(child, path);
        continue;
      }
      present.add(path);
      if (child.port !== null && child.mount) lastSeen.set(path, { port: child.port, mount: child.mount });
      if (child.state === 'failed' || child.state === 'stopped') lastSeen.delete(path);
      const seen = lastSeen.get(path);
      if (!seen || options.exclude?.has(path)) continue;
      const entry: NginxService = byMount.get(seen.mount) ?? { mount: seen.mount, instances: [], upstreams: [] };
      entry.instances.push(child.id);
      entry.upstreams.push({ host: options.host, port: seen.port });
      byMount.set(seen.mount, entry);
    }
  };
  if (services) walk(services, services.id);
  for (const path of lastSeen.keys()) if (!present.has(path)) lastSeen.delete(path);
  return [...byMount.values()];
}

/** The admin server's address in its URL (http://127.0.0.1:7070). */
export function adminUpstream(url: string): Upstream {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}
