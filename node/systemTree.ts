/**
 * The children of the node's `system` supervisor, in its rest_for_one order:
 * `[store link →] admin HTTP [→ reconciler → call runner → scheduler → listener] [→ nginx]`.
 * The bracketed ones run in scheduled mode (node/scheduledChildren.ts); with HYDRA_NGINX_CONF
 * set, the nginx watcher keeps that config in step with the running services and switches
 * traffic during a hot swap.
 */
import type { Logger } from '../core/log.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { ChildSpec } from '../supervisor/types.js';
import type { NodeConfig } from './config.js';
import { nginxWatcherChild, type NginxWatcher } from './nginxWatcher.js';
import { scheduledChildren } from './scheduledChildren.js';
import { adminUpstream } from './treeServices.js';

export interface SystemTreeOptions {
  config: NodeConfig;
  log: Logger;
  version: string;
  instances: number;
  serviceEnv: Record<string, string>;
  /** The admin server's child (node/adminChild.ts). */
  admin: ChildSpec;
  root: () => Supervisor;
  adminUrl: () => string;
}

export function systemChildren(o: SystemTreeOptions): ChildSpec[] {
  const { config, log } = o;
  const children: ChildSpec[] = [o.admin];
  // The nginx watcher while it runs: the reconciler switches traffic through it in a hot swap.
  const nginxRef: { current: NginxWatcher | null } = { current: null };
  if (config.scheduler) {
    const beforeRetire = config.nginx
      ? (_service: string, retiring: Array<{ id: string }>) => nginxRef.current?.switchTraffic(retiring.map((r) => `services/${r.id}`)) ?? Promise.resolve()
      : undefined;
    const scheduled = scheduledChildren({ ...o, settings: config.scheduler, ...(beforeRetire ? { beforeRetire } : {}) });
    children.unshift(...scheduled.before);
    children.push(...scheduled.after);
  }
  if (config.nginx) {
    // Last in `system` (rest_for_one): a watcher restart restarts nothing else.
    children.push(
      nginxWatcherChild({
        settings: config.nginx,
        nodeId: config.nodeId,
        tree: () => o.root().info(),
        admin: () => (o.adminUrl() ? adminUpstream(o.adminUrl()) : null),
        serviceHost: '127.0.0.1',
        log: log.child({ component: 'nginx' }),
        ref: nginxRef,
      }),
    );
  }
  return children;
}
