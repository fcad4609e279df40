/**
 * Turns a validated topology into the `services` supervisor's spec: each service instance
 * becomes a child `<id>#<i>` (i from 1, stable across restarts: it is the instance's Redis
 * consumer name) with a port of its own, handed out in topology order from the port base.
 * Nested supervisor entries become nested supervisors.
 */
import { ConfigError } from '../core/errors.js';
import { serviceChildSpec } from '../runtime/serviceChild.js';
import { instancePidHooks } from './instancePids.js';
import { supervisorChild, type SupervisorOptions } from '../supervisor/supervisor.js';
import type { ChildSpec, SupervisorSpec } from '../supervisor/types.js';
import type { Topology, TopologyEntry, TopologyService } from '../runtime/topology.js';

export interface ServicesTreeOptions {
  /** First port; each instance takes the next. */
  portBase: number;
  /** Every instance's environment (REDIS_URL, HYDRA_KEY_PREFIX, HYDRA_NODE_ID…), under the service's own `env`. */
  env: Record<string, string>;
  /** Passed to nested supervisors (reports). */
  supervisorOptions?: SupervisorOptions;
}

export function servicesSpec(topology: Topology, options: ServicesTreeOptions, id = 'services'): SupervisorSpec {
  let nextPort = options.portBase;
  const takePort = () => {
    if (nextPort > 65535) throw new ConfigError('HYDRA_SERVICE_PORT_BASE', `${options.portBase} leaves too few ports for the topology's instances; expected a lower port base`);
    return nextPort++;
  };
  const children = (entries: TopologyEntry[]): ChildSpec[] =>
    entries.flatMap((entry) => {
      if (entry.kind === 'service') return instances(entry, options.env, takePort);
      return [supervisorChild({ id: entry.id, ...entry.flags, children: children(entry.entries) }, options.supervisorOptions)];
    });
  return { id, ...topology.flags, children: children(topology.entries) };
}

function instances(service: TopologyService, env: Record<string, string>, takePort: () => number): ChildSpec[] {
  return Array.from({ length: service.instances }, (_, i) =>
    serviceChildSpec({
      id: `${service.id}#${i + 1}`,
      ...instancePidHooks(env, `${service.id}#${i + 1}`),
      module: service.module,
      port: takePort(),
      env: { ...env, ...service.env },
      ...(service.version !== undefined ? { version: service.version } : {}),
      ...(service.restart !== undefined ? { restart: service.restart } : {}),
      ...(service.shutdown !== undefined ? { shutdown: service.shutdown } : {}),
      ...(service.startTimeoutMs !== undefined ? { startTimeoutMs: service.startTimeoutMs } : {}),
      ...(service.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: service.heartbeatTimeoutMs } : {}),
      ...(service.nodeArgs !== undefined ? { nodeArgs: service.nodeArgs } : {}),
    }),
  );
}
