/**
 * The node's ServicesHost (scheduler/reconcile/servicesHost.ts) over its `services` supervisor:
 * it turns an InstanceRequest into a service child (module resolved in the release's app root
 * or the node's own, settings from that app's catalog, a port of its own) and adds or removes it
 * as a dynamic child. It looks the supervisor up at each call, so a `services` supervisor that
 * was restarted (fresh, with only its static children) is simply seen without the instances,
 * and the reconciler starts them again.
 *
 * Each instance serves its functions on a Unix socket of its own in a private directory of this
 * host (mode 0700, made on the first start), and only to callers showing the host's secret, made
 * at random when the host is: both reach the instance through its environment, and the node's
 * function-call runner finds them with `localFunctions`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FUNCTIONS_ENV, type FunctionsAddress } from '../runtime/functionsAccess.js';
import { childIdOf, ReleasePreparing, type HostedInstance, type InstanceRequest, type ServicesHost } from '../scheduler/reconcile/servicesHost.js';
import { serviceChildSpec } from '../runtime/serviceChild.js';
import { instancePidHooks } from './instancePids.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { ReleaseLocator } from './releaseLocator.js';
import { DEFAULT_TOPOLOGY, readTopology, type TopologyEntry, type TopologyService } from '../runtime/topology.js';

export interface ServicesHostOptions {
  /** The running `services` supervisor, or null. */
  services: () => Supervisor | null;
  /** Ports the static topology already uses. */
  staticPorts: Set<number>;
  /** Ports for instances are taken from here upwards. */
  portBase: number;
  /** Every instance's environment (node id, Redis, database…). */
  env: Record<string, string>;
  /** Finds (or builds here) a release pushed to another node; without it the recorded path is used as is. */
  releases?: ReleaseLocator;
}

/** The app root of the node's own code: the folder holding services/topology.json (dist/ when built). */
export const OWN_APP_ROOT = path.dirname(path.dirname(DEFAULT_TOPOLOGY));

interface Hosted {
  request: InstanceRequest;
  port: number;
  socket: string;
}

/** A ServicesHost that also knows where its instances' functions are called. */
export interface NodeServicesHost extends ServicesHost {
  /** The functions socket of a hosted instance and the secret to show, or null. */
  functionsOf(id: string): FunctionsAddress | null;
}

function findService(entries: TopologyEntry[], id: string): TopologyService | undefined {
  for (const e of entries) {
    if (e.kind === 'service' && e.id === id) return e;
    if (e.kind === 'supervisor') {
      const inner = findService(e.entries, id);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** Whether `relative` (relative to root) names a file inside root: not absolute, no way out through '..'. */
function insideRoot(root: string, relative: string): boolean {
  if (relative === '' || path.isAbsolute(relative)) return false;
  const back = path.relative(root, path.resolve(root, relative));
  return back !== '' && !back.startsWith('..') && !path.isAbsolute(back);
}

/** The module file and catalog settings of a request; a clear error when there is none. */
export function resolveInstance(request: InstanceRequest): { module: string; catalog: TopologyService | undefined } {
  const appRoot = request.releasePath ?? OWN_APP_ROOT;
  const catalogFile = path.join(appRoot, 'services', 'topology.json');
  const catalog = existsSync(catalogFile) ? findService(readTopology(catalogFile, true).entries, request.service) : undefined;
  if (request.module !== null) {
    // The spec comes from the database: its module must stay inside the release it names.
    if (!insideRoot(appRoot, request.module)) throw new Error(`service '${request.service}': module ${JSON.stringify(request.module)} is outside the release ${appRoot}; give the spec a path relative to the app root, without '..' (hydra scheduler place ${request.service} --module services/x/index.js)`);
    const file = path.resolve(appRoot, request.module);
    const source = file.replace(/\.js$/, '.ts');
    // From the TypeScript sources the `.ts` beside a `.js` name is the same module (as in topologies).
    const module = existsSync(file) ? file : existsSync(source) ? source : null;
    if (!module) throw new Error(`service '${request.service}': module ${request.module} does not exist in ${appRoot}; fix the spec's --module`);
    return { module, catalog };
  }
  // A pushed release's topology names its own modules: none may point outside the release.
  if (catalog && request.releasePath !== null && !insideRoot(appRoot, path.relative(appRoot, catalog.module))) {
    throw new Error(`service '${request.service}': the release's topology names module ${catalog.module}, outside the release ${appRoot}; name a module inside the app`);
  }
  if (!catalog) throw new Error(`service '${request.service}' has no module: it is not in ${catalogFile}; give the spec one with 'hydra scheduler place ${request.service} --module <path>'`);
  return { module: catalog.module, catalog };
}

export function createServicesHost(options: ServicesHostOptions): NodeServicesHost {
  const hosted = new Map<string, Hosted>();
  const secret = randomBytes(32).toString('base64url');
  let socketDir: string | undefined;

  /** A short path (a Unix socket path holds at most 107 bytes), the same for the same child id. */
  function socketOf(id: string): string {
    socketDir ??= mkdtempSync(path.join(tmpdir(), 'hydra-fn-'));
    return path.join(socketDir, `${createHash('sha256').update(id).digest('hex').slice(0, 16)}.sock`);
  }

  function takePort(id: string): number {
    const previous = hosted.get(id)?.port;
    if (previous !== undefined) return previous;
    const used = new Set([...options.staticPorts, ...[...hosted.values()].map((h) => h.port)]);
    for (let port = options.portBase; port <= 65535; port++) if (!used.has(port)) return port;
    throw new Error(`no free service port at or above ${options.portBase}`);
  }

  /** The request with the release's app root on this node. */
  async function locate(request: InstanceRequest): Promise<InstanceRequest> {
    if (!options.releases || request.version === null || request.releasePath === null) return request;
    const where = await options.releases.locate(request.version, request.releasePath);
    if (where.kind === 'preparing') throw new ReleasePreparing(where.detail);
    if (where.kind === 'failed') throw new Error(where.detail);
    return { ...request, releasePath: where.appRoot };
  }

  return {
    ready: () => options.services()?.info().state === 'running',

    instances(): HostedInstance[] {
      const sup = options.services();
      if (!sup) return [];
      return sup
        .whichChildren()
        .filter((c) => hosted.has(c.id))
        .map((c) => {
          const h = hosted.get(c.id)!;
          const health = c.status;
          const detail = c.state !== 'running' && c.lastExit ? c.lastExit.reason : health && !health.healthy ? (health.detail ?? 'unhealthy') : c.lastExit && c.restarts > 0 ? `restarted after: ${c.lastExit.reason}` : null;
          return { id: c.id, state: c.state, pid: c.pid, port: c.port ?? h.port, restarts: c.restarts, healthy: health ? health.healthy : null, counters: health?.counters ?? {}, detail, request: h.request };
        });
    },

    async start(request: InstanceRequest): Promise<void> {
      const sup = options.services();
      if (!sup) throw new Error('the services supervisor is not running');
      const { module, catalog } = resolveInstance(await locate(request));
      const id = childIdOf(request);
      const port = takePort(id);
      const socket = socketOf(id);
      const spec = serviceChildSpec({
        id,
        ...instancePidHooks(options.env, id),
        module,
        port,
        // The node's own variables last: a catalog or spec setting cannot point them elsewhere.
        env: { ...options.env, ...(catalog?.env ?? {}), ...request.config, [FUNCTIONS_ENV.socket]: socket, [FUNCTIONS_ENV.secret]: secret },
        ...(request.version !== null ? { version: request.version.slice(0, 12) } : catalog?.version !== undefined ? { version: catalog.version } : {}),
        ...(catalog?.shutdown !== undefined ? { shutdown: catalog.shutdown } : {}),
        ...(catalog?.startTimeoutMs !== undefined ? { startTimeoutMs: catalog.startTimeoutMs } : {}),
        ...(catalog?.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: catalog.heartbeatTimeoutMs } : {}),
        ...(catalog?.nodeArgs !== undefined ? { nodeArgs: catalog.nodeArgs } : {}),
      });
      hosted.set(id, { request, port, socket });
      try {
        await sup.startChild(spec);
      } catch (err) {
        hosted.delete(id);
        throw err;
      }
    },

    functionsOf(id: string): FunctionsAddress | null {
      const h = hosted.get(id);
      return h ? { socket: h.socket, secret } : null;
    },

    async stop(id: string): Promise<void> {
      const sup = options.services();
      if (sup && sup.whichChildren().some((c) => c.id === id)) {
        await sup.terminateChild(id);
        await sup.deleteChild(id);
      }
      hosted.delete(id);
    },
  };
}

/** Where to call the functions of a running instance of `service` on this node, healthy ones first; null when none runs. */
export function localFunctions(host: NodeServicesHost, service: string): FunctionsAddress | null {
  const running = host.instances().filter((i) => i.request.service === service && i.state === 'running');
  const chosen = running.find((i) => i.healthy !== false) ?? running[0];
  return chosen ? host.functionsOf(chosen.id) : null;
}
