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
 *
 * It writes run/node.json once the admin server listens, logs every supervisor report, stops
 * the tree gracefully on SIGTERM/SIGINT or `POST /admin/stop` (exit 0), and exits 1 when the root
 * gives up (after its children are gone) so systemd or boot.sh restarts the node. Children are
 * never orphaned: a graceful stop ends them, a crash of the daemon kills them (processChild's
 * exit cleanup), and a SIGKILL closes their IPC link or changes their parent, on which they exit
 * (supervisor/childLink.ts). As a last line, a starting daemon stops the service processes a
 * previous daemon of the same home left, from their pid files (node/instancePids.ts).
 *
 * This module composes the tree; its parts are the system children (node/systemTree.ts,
 * node/scheduledChildren.ts), the admin server's wiring (node/adminChild.ts), the services
 * subtree (node/servicesTree.ts) and the start/stop lifecycle (node/nodeLifecycle.ts).
 */
import { existsSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { instanceCount, readTopology, SERVICES_DEFAULT_FLAGS, type Topology } from '../runtime/topology.js';
import { Supervisor, supervisorChild } from '../supervisor/supervisor.js';
import { nodeAdminChild } from './adminChild.js';
import { declareTopologyConsumers } from './declareConsumers.js';
import type { NodeConfig } from './config.js';
import { NodeStop, runRoot } from './nodeLifecycle.js';
import { stopLeftovers } from './instancePids.js';
import { runningNode } from './pidFile.js';
import { servicesSpec } from './servicesTree.js';
import { logReports } from './supervisorReports.js';
import { systemChildren } from './systemTree.js';
import { hydraVersion } from './version.js';

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
/**
 * `services` parks a child that fails to start or crashes 3 times in a row (as the reconciler
 * does in scheduled mode) and retries it after 1 s, 2 s… up to 30 s: one bad service never keeps
 * the node from starting, never uses up `services`' intensity, never restarts its siblings.
 */
const SERVICES_PARK = { crashLimit: 3, backoffMinMs: 1_000, backoffMaxMs: 30_000 } as const;

/** Runs the node until it is stopped (resolves 0) or its root supervisor gives up (resolves 1). */
export async function runNode(config: NodeConfig, options: RunNodeOptions = {}): Promise<number> {
  const log = options.log ?? createLogger({ node: config.nodeId, component: 'node' }, { level: config.logLevel });
  const say = options.progress ?? ((line: string) => process.stderr.write(`hydra node: ${line}\n`));
  refuseSecondNode(config);
  // Before anything binds: what a SIGKILLed daemon of this home left would hold its ports.
  await stopLeftovers(config.home, log);
  const topology = nodeTopology(config);
  const instances = instanceCount(topology.entries);
  const version = hydraVersion();
  const startedAt = Date.now();
  const onReport = logReports(log);
  const adminUrl = { current: '' };
  const lifecycle = { nodeId: config.nodeId, home: config.home, log, say, root: () => root };
  const stop = new NodeStop(lifecycle);
  const serviceEnv = serviceEnvOf(config);

  const admin = nodeAdminChild({ config, version, startedAt, log, root: () => root, url: adminUrl, requestStop: (why) => stop.request(why) });
  const services = servicesSpec(topology, { portBase: config.servicePortBase, env: serviceEnv, supervisorOptions: { onReport } });
  const system = systemChildren({ config, log, version, instances, serviceEnv, admin, root: () => root, adminUrl: () => adminUrl.current });
  const root: Supervisor = new Supervisor(
    {
      id: 'node',
      ...ROOT_FLAGS,
      children: [supervisorChild({ id: 'system', ...SYSTEM_FLAGS, children: system }, { onReport }), supervisorChild(services, { onReport, park: SERVICES_PARK })],
    },
    { onReport },
  );

  await declareTopologyConsumers(topology.entries, { redisUrl: config.redisUrl, keyPrefix: config.keyPrefix, log });
  return runRoot({
    ...lifecycle,
    stop,
    startedAt,
    starting: () => {
      log.info('node starting', { home: config.home, topology: config.topologyFile, instances, version });
      say(`starting node ${config.nodeId} (hydra ${version}, home ${config.home}, topology ${config.topologyFile}: ${instances} service instance(s))`);
    },
    running: () => ({ adminUrl: adminUrl.current, instances }),
  });
}

function refuseSecondNode(config: NodeConfig): void {
  const other = runningNode(config.home);
  if (other) {
    throw new ConfigError('HYDRA_HOME', `node ${other.nodeId} already runs from ${config.home} (pid ${other.pid}, admin ${other.adminUrl}); stop it with 'hydra node stop' or use another HYDRA_HOME`);
  }
}

/** A scheduled node without a topology file of its own runs only what the scheduler places. */
function nodeTopology(config: NodeConfig): Topology {
  if (config.scheduler && !config.topologyExplicit && !existsSync(config.topologyFile)) return { flags: SERVICES_DEFAULT_FLAGS, entries: [] };
  return readTopology(config.topologyFile, config.topologyExplicit);
}

/** Every service instance's environment (under the service's own `env`). */
function serviceEnvOf(config: NodeConfig): Record<string, string> {
  return {
    HYDRA_NODE_ID: config.nodeId,
    // Marks the process as this node's (node/instancePids.ts checks it before stopping a leftover).
    HYDRA_HOME: config.home,
    REDIS_URL: config.redisUrl,
    HYDRA_KEY_PREFIX: config.keyPrefix,
    HYDRA_LOG_LEVEL: config.logLevel,
    ...(config.databaseUrl ? { DATABASE_URL: config.databaseUrl } : {}),
    // The names a WebSocket's Origin is checked against (runtime/webSocketOrigin.ts).
    ...pick(process.env, 'HYDRA_SERVER_NAME', 'HYDRA_ALLOWED_ORIGINS'),
  };
}

function pick(env: NodeJS.ProcessEnv, ...names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((n) => (env[n] ? [[n, env[n]]] : [])));
}
