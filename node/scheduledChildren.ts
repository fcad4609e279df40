/**
 * The children of `system` in scheduled mode (HYDRA_MODE=scheduled): the store link before the
 * admin server (it registers the node and heartbeats), then the reconciler (this node's
 * placements become children of `services`), the function-call runner, the scheduler (campaigns
 * for the lease and plans while it leads) and, with HYDRA_LISTEN_DATABASE_URL, the listener that
 * wakes them on changes.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { callRunnerChild } from '../scheduler/calls/callRunner.js';
import { schedulerChild } from '../scheduler/leader/schedulerLoop.js';
import { reconcilerChild, type ReconcilerOptions } from '../scheduler/reconcile/reconciler.js';
import { storeLinkChild, type StoreRef } from '../scheduler/store/storeLink.js';
import { listenerChild, type WakeRef } from '../scheduler/store/wakeUps.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { ChildSpec } from '../supervisor/types.js';
import { clientUrl } from './adminHttp.js';
import type { NodeConfig, SchedulerSettings } from './config.js';
import { ReleaseLocator } from './releaseLocator.js';
import { createServicesHost, localFunctions } from './servicesHost.js';

export interface ScheduledChildrenOptions {
  config: NodeConfig;
  settings: SchedulerSettings;
  log: Logger;
  version: string;
  /** Instances of the topology file: they hold the ports from the port base on. */
  instances: number;
  /** Every instance's environment. */
  serviceEnv: Record<string, string>;
  root: () => Supervisor;
  adminUrl: () => string;
  /** The nginx watcher's traffic switch during a hot swap, when nginx is managed. */
  beforeRetire?: ReconcilerOptions['beforeRetire'];
}

/** `before` goes ahead of the admin server in `system`, `after` behind it (rest_for_one order). */
export function scheduledChildren(o: ScheduledChildrenOptions): { before: ChildSpec[]; after: ChildSpec[] } {
  const { config, settings, log } = o;
  const store: StoreRef = { pool: null };
  const staticPorts = new Set(Array.from({ length: o.instances }, (_, i) => config.servicePortBase + i));
  // Releases pushed to another node are built here, under this node's own releases directory.
  const releases = new ReleaseLocator({ releasesDir: path.join(config.home, 'releases'), pool: () => store.pool, env: process.env, log: log.child({ component: 'releases' }) });
  const host = createServicesHost({ services: () => o.root().childSupervisor('services'), staticPorts, portBase: config.servicePortBase + o.instances, env: o.serviceEnv, releases });
  const schedLog = log.child({ component: 'scheduler' });
  const registration = () => ({
    id: config.nodeId,
    hostKey: createHash('sha256').update(`${hostname()}\0${config.home}`).digest('hex').slice(0, 32),
    labels: settings.labels,
    capacity: settings.capacity,
    address: settings.address ?? (o.adminUrl() || clientUrl(config.adminHost, config.adminPort)),
    version: o.version,
  });
  const wake: WakeRef = { reconciler: null, scheduler: null, calls: null };
  const after = [
    reconcilerChild({ nodeId: config.nodeId, store, host, intervalMs: settings.reconcileMs, wake, log: log.child({ component: 'reconciler' }), ...(o.beforeRetire ? { beforeRetire: o.beforeRetire } : {}) }),
    callRunnerChild({ nodeId: config.nodeId, store, functionsOf: (service) => localFunctions(host, service), wake, log: log.child({ component: 'calls' }) }),
    schedulerChild({ nodeId: config.nodeId, store, leaseMs: settings.leaseMs, tickMs: settings.tickMs, nodeTimeoutMs: settings.nodeTimeoutMs, wake, log: schedLog }),
  ];
  if (settings.listenUrl) after.push(listenerChild({ nodeId: config.nodeId, url: settings.listenUrl, wake, log: schedLog }));
  else schedLog.info('HYDRA_LISTEN_DATABASE_URL is not set: changes are picked up by polling only', { reconcileMs: settings.reconcileMs, tickMs: settings.tickMs });
  return {
    before: [storeLinkChild({ databaseUrl: config.databaseUrl!, registration, heartbeatMs: settings.heartbeatMs, nodeTimeoutMs: settings.nodeTimeoutMs, store, log: schedLog })],
    after,
  };
}
