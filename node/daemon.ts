/**
 * The node daemon (`hydra node start`): the root supervisor process of a node.
 *
 * ```
 * node        one_for_one
 * ├── system  rest_for_one: [store link →] admin HTTP [→ reconciler → scheduler] [→ nginx]
 * └── services  the topology file's services [+ the instances the scheduler places here]
 * ```
 * The bracketed children run in scheduled mode (HYDRA_MODE=scheduled): the store link registers
 * the node and heartbeats, the reconciler turns this node's placements into children of
 * `services`, and the scheduler campaigns for the lease and plans while it leads. With
 * HYDRA_NGINX_CONF set, the nginx watcher keeps that config in step with the running services
 * (node/nginxWatcher.ts) and switches traffic during a hot swap.
 * ```
 * ```
 * It writes run/node.json once the admin server listens, logs every supervisor report, stops
 * the tree gracefully on SIGTERM/SIGINT or `POST /admin/stop` (exit 0), and exits 1 when the root
 * gives up (after its children are gone) so systemd or boot.sh restarts the node. Children are
 * never orphaned: a graceful stop ends them, a crash of the daemon kills them (processChild's
 * exit cleanup), and a SIGKILL closes their IPC link, on which they exit.
 */
import { ConfigError } from '../core/errors.js';
import { createLogger, type Level, type Logger } from '../core/log.js';
import { Supervisor, supervisorChild } from '../supervisor/supervisor.js';
import type { SupervisorReport } from '../supervisor/types.js';
import { adminHandler, type AdminContext } from './adminRoutes.js';
import { adminHttpChild } from './adminHttp.js';
import type { NodeConfig } from './config.js';
import { removeNodeFile, runningNode, writeNodeFile } from './pidFile.js';
import { servicesSpec } from './servicesTree.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { reconcilerChild } from '../scheduler/reconcile/reconciler.js';
import { schedulerChild } from '../scheduler/leader/schedulerLoop.js';
import { storeLinkChild, type StoreRef } from '../scheduler/store/storeLink.js';
import type { ChildSpec } from '../supervisor/types.js';
import { clientUrl } from './adminHttp.js';
import { callRunnerChild } from '../scheduler/calls/callRunner.js';
import { listenerChild, type WakeRef } from '../scheduler/store/wakeUps.js';
import { ReleaseLocator } from './releaseLocator.js';
import { createServicesHost, localPort } from './servicesHost.js';
import { instanceCount, readTopology, SERVICES_DEFAULT_FLAGS, type Topology } from '../runtime/topology.js';
import { hydraVersion } from './version.js';
import { nginxWatcherChild, type NginxWatcher } from './nginxWatcher.js';
import { adminUpstream } from './treeServices.js';

export interface RunNodeOptions {
  /** Human progress lines (stderr by default); `hydra node start --json` passes a no-op. */
  progress?: (line: string) => void;
  log?: Logger;
}

/**
 * The node's own supervisors. The root is strict (3 in a minute): by the time it gives up,
 * `services` and `system` have each already failed their own intensity, so restarting the whole
 * daemon (systemd) is the next sensible step.
 */
const ROOT_FLAGS = { strategy: 'one_for_one', intensity: 3, periodMs: 60_000 } as const;
const SYSTEM_FLAGS = { strategy: 'rest_for_one', intensity: 5, periodMs: 30_000 } as const;

const REPORT_LEVEL: Record<SupervisorReport['context'], Level> = {
  child_started: 'info',
  shutdown: 'info',
  child_terminated: 'warn',
  restarting: 'warn',
  start_error: 'error',
  shutdown_error: 'error',
  reached_max_restart_intensity: 'error',
};

/** Runs the node until it is stopped (resolves 0) or its root supervisor gives up (resolves 1). */
export async function runNode(config: NodeConfig, options: RunNodeOptions = {}): Promise<number> {
  const log = options.log ?? createLogger({ node: config.nodeId, component: 'node' }, { level: config.logLevel });
  const say = options.progress ?? ((line: string) => process.stderr.write(`hydra node: ${line}\n`));
  const other = runningNode(config.home);
  if (other) {
    throw new ConfigError('HYDRA_HOME', `node ${other.nodeId} already runs from ${config.home} (pid ${other.pid}, admin ${other.adminUrl}); stop it with 'hydra node stop' or use another HYDRA_HOME`);
  }
  // A scheduled node without a topology file of its own runs only what the scheduler places.
  const topology: Topology =
    config.scheduler && !config.topologyExplicit && !existsSync(config.topologyFile) ? { flags: SERVICES_DEFAULT_FLAGS, entries: [] } : readTopology(config.topologyFile, config.topologyExplicit);
  const instances = instanceCount(topology.entries);
  const version = hydraVersion();
  const startedAt = Date.now();
  const onReport = (r: SupervisorReport) => {
    const { pid, ...rest } = r;
    // `childPid`, not `pid`: the logger's `pid` is the daemon's.
    log[REPORT_LEVEL[r.context]](`supervisor ${r.context}`, { component: 'supervisor', ...rest, ...(pid !== undefined ? { childPid: pid } : {}) });
  };

  let adminUrl = '';
  let stopping = false;
  const ctx: AdminContext = { nodeId: config.nodeId, version, startedAt, adminUrl: () => adminUrl, adminPath: 'system/admin-http', root: () => root, stop: () => requestStop('POST /admin/stop') };
  const admin = adminHttpChild({
    id: 'admin-http',
    host: config.adminHost,
    port: config.adminPort,
    handler: adminHandler(ctx),
    onListening: (url) => {
      adminUrl = url;
      writeNodeFile(config.home, { pid: process.pid, adminUrl: url, nodeId: config.nodeId, startedAt: new Date(startedAt).toISOString() });
      log.info('admin listening', { url });
    },
  });
  const serviceEnv: Record<string, string> = {
    HYDRA_NODE_ID: config.nodeId,
    REDIS_URL: config.redisUrl,
    HYDRA_KEY_PREFIX: config.keyPrefix,
    HYDRA_LOG_LEVEL: config.logLevel,
    ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}),
  };
  const services = servicesSpec(topology, { portBase: config.servicePortBase, env: serviceEnv, supervisorOptions: { onReport } });
  const systemChildren: ChildSpec[] = [admin];
  // The nginx watcher while it runs: the reconciler switches traffic through it in a hot swap.
  const nginxRef: { current: NginxWatcher | null } = { current: null };
  const beforeRetire = config.nginx
    ? (_service: string, retiring: Array<{ id: string }>) => nginxRef.current?.switchTraffic(retiring.map((r) => `services/${r.id}`)) ?? Promise.resolve()
    : undefined;
  if (config.scheduler) {
    const settings = config.scheduler;
    const store: StoreRef = { pool: null };
    const staticPorts = new Set(Array.from({ length: instances }, (_, i) => config.servicePortBase + i));
    // Releases pushed to another node are built here, under this node's own releases directory.
    const releases = new ReleaseLocator({ releasesDir: path.join(config.home, 'releases'), pool: () => store.pool, env: process.env, log: log.child({ component: 'releases' }) });
    const host = createServicesHost({ services: () => root.childSupervisor('services'), staticPorts, portBase: config.servicePortBase + instances, env: serviceEnv, releases });
    const schedLog = log.child({ component: 'scheduler' });
    const registration = () => ({
      id: config.nodeId,
      hostKey: createHash('sha256').update(`${hostname()}\0${config.home}`).digest('hex').slice(0, 32),
      labels: settings.labels,
      capacity: settings.capacity,
      address: settings.address ?? (adminUrl || clientUrl(config.adminHost, config.adminPort)),
      version,
    });
    systemChildren.unshift(
      storeLinkChild({ databaseUrl: config.databaseUrl!, registration, heartbeatMs: settings.heartbeatMs, nodeTimeoutMs: settings.nodeTimeoutMs, store, log: schedLog }),
    );
    const wake: WakeRef = { reconciler: null, scheduler: null, calls: null };
    systemChildren.push(
      reconcilerChild({ nodeId: config.nodeId, store, host, intervalMs: settings.reconcileMs, wake, log: log.child({ component: 'reconciler' }), ...(beforeRetire ? { beforeRetire } : {}) }),
      callRunnerChild({ nodeId: config.nodeId, store, portOf: (service) => localPort(host, service), wake, log: log.child({ component: 'calls' }) }),
      schedulerChild({ nodeId: config.nodeId, store, leaseMs: settings.leaseMs, tickMs: settings.tickMs, nodeTimeoutMs: settings.nodeTimeoutMs, wake, log: schedLog }),
    );
    if (settings.listenUrl) systemChildren.push(listenerChild({ nodeId: config.nodeId, url: settings.listenUrl, wake, log: schedLog }));
    else schedLog.info('HYDRA_LISTEN_DATABASE_URL is not set: changes are picked up by polling only', { reconcileMs: settings.reconcileMs, tickMs: settings.tickMs });
  }
  if (config.nginx) {
    // Last in `system` (rest_for_one): a watcher restart restarts nothing else.
    systemChildren.push(
      nginxWatcherChild({
        settings: config.nginx,
        nodeId: config.nodeId,
        tree: () => root.info(),
        admin: () => (adminUrl ? adminUpstream(adminUrl) : null),
        serviceHost: '127.0.0.1',
        log: log.child({ component: 'nginx' }),
        ref: nginxRef,
      }),
    );
  }
  const root: Supervisor = new Supervisor(
    {
      id: 'node',
      ...ROOT_FLAGS,
      children: [supervisorChild({ id: 'system', ...SYSTEM_FLAGS, children: systemChildren }, { onReport }), supervisorChild(services, { onReport })],
    },
    { onReport },
  );

  function requestStop(why: string): void {
    if (stopping) return;
    stopping = true;
    log.info('node stopping', { why });
    say(`stopping node ${config.nodeId} (${why})`);
    void root.stop();
  }
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopping) return requestStop(signal);
    // A second signal means "now": exit at once; the children go with us (exit cleanup / IPC link).
    log.warn('second signal during stop; exiting now', { signal });
    removeNodeFile(config.home);
    process.exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    log.info('node starting', { home: config.home, topology: config.topologyFile, instances, version });
    say(`starting node ${config.nodeId} (hydra ${version}, home ${config.home}, topology ${config.topologyFile}: ${instances} service instance(s))`);
    try {
      await root.start();
    } catch (err) {
      log.error('node failed to start', { err });
      say(`node ${config.nodeId} failed to start: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
    if (!stopping) {
      log.info('node running', { adminUrl, instances });
      say(`node ${config.nodeId} running: admin ${adminUrl}, ${instances} services`);
    }
    const reason = await root.exited;
    if (stopping && reason.normal) {
      log.info('node stopped', { uptimeMs: Date.now() - startedAt });
      say(`node ${config.nodeId} stopped`);
      return 0;
    }
    log.error('node root supervisor gave up; exiting 1', { reason: reason.reason });
    say(`node ${config.nodeId} failed: ${reason.reason}`);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    removeNodeFile(config.home);
  }
}
