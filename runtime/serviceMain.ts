/**
 * The entry of a service process: runs ONE instance of a service under a supervisor.
 *
 * Start: read the config (serviceConfig.ts), import the service module, validate its manifest,
 * connect the channels, call `init` (what it returns is the instance state, handed to every
 * other hook, route, function and WebSocket connection), serve HTTP, start one consumer per consumed channel
 * (group = service name, consumer = the child id, so a restart re-reads its own pending
 * entries), and say `ready` only once every consumer is ready. Any failure on the way is logged
 * as one JSON line (with its stack), reported as `start_failed` (with the stack), and the
 * process exits 1. An uncaught error later is logged the same way and sent as `crashed`.
 *
 * Stop (the supervisor's `stop` or SIGTERM, through childLink): stop fetching, finish and ack
 * the batches in hand and the HTTP requests in progress, call `stop`, close the transport;
 * childLink then exits 0.
 *
 * The start path is kept lean (process restarts are dominated by Node start-up): channel
 * modules are imported one by one rather than through channels/index.js, which loads sql.js,
 * and node:http only when the instance serves HTTP.
 */
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Channel } from '../channels/channel.js';
import type { Consumer } from '../channels/consumer.js';
import { reasonOf } from '../core/errors.js';
import { createRedisTransport } from '../channels/redis/redisTransport.js';
import type { Transport } from '../channels/transport.js';
import { upcasters } from '../channels/upcasters.js';
import { linkToSupervisor } from '../supervisor/childLink.js';
import { SpecError } from '../supervisor/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import type { ChildStatus } from '../supervisor/types.js';
import type { ServiceHealth, ServiceManifest } from './serviceTypes.js';
import { validateManifest, versionsWanted } from './validateManifest.js';
import { readServiceConfig, type ServiceConfig } from './serviceConfig.js';
import { createServiceContext, type ServiceRuntimeContext } from './serviceContext.js';

/** How long requests in progress (SSE streams included) may run on after stop. */
const HTTP_GRACE_MS = 2_000;

/** Thrown between start steps once a stop has been asked for: not a failure. */
class Stopped extends Error {}

// Everything the instance has started so far, so stop (or a failed start) knows what to undo.
let log: Logger = createLogger({ node: process.env.HYDRA_NODE_ID, component: 'service', instance: process.env.HYDRA_CHILD_ID });
let config: ServiceConfig | undefined;
let manifest: ServiceManifest | undefined;
let runtime: ServiceRuntimeContext | undefined;
/** What the service's init returned: handed to every other hook of the instance. */
let state: unknown;
let transport: Transport | undefined;
let server: Server | undefined;
/** The private listener of `/_hydra/functions`, when the node gave this instance a socket. */
let functionsServer: Server | undefined;
let closeServer: ((server: Server, graceMs: number) => Promise<void>) | undefined;
let consumers: Consumer[] = [];
let initDone = false;
let ready = false;
let stopping = false;
let httpRequests = 0;

const link = linkToSupervisor({ onStop: stop, status });

// Let it crash, but say why in the same JSON format, with the stack logged once and sent to the
// supervisor (the tree shows the last one): the supervisor restarts the instance.
let crashing = false;
const crash = (what: string) => (err: unknown) => {
  if (crashing) return;
  crashing = true;
  const stack = stackOf(err);
  log.error(what, { err: reasonOf(err), ...(stack ? { stack } : {}) });
  link.crashed(`${what}: ${reasonOf(err)}`, stack);
  // A tick for the IPC write to leave before the process goes.
  setTimeout(() => process.exit(1), 20);
};
process.on('uncaughtException', crash('uncaught exception'));
process.on('unhandledRejection', crash('unhandled rejection'));

const starting = start();
starting.catch((err: unknown) => {
  if (err instanceof Stopped) return;
  const reason = reasonOf(err);
  const stack = stackOf(err);
  log.error('start failed', { err: reason, ...(stack ? { stack } : {}) });
  link.startFailed(reason, stack);
  // A tick for the IPC write to leave before the process goes.
  setTimeout(() => process.exit(1), 20);
});

// ---- start -------------------------------------------------------------------------------

async function start(): Promise<void> {
  config = readServiceConfig();
  const cfg = config;
  log = createLogger({ node: cfg.nodeId, component: 'service', instance: cfg.childId });
  const mod = (await import(pathToFileURL(cfg.module).href)) as { service?: unknown; default?: unknown };
  const candidate = mod.service ?? mod.default;
  if (candidate === undefined) throw new SpecError('service', undefined, `a default export or an export named 'service' made by defineService, in ${cfg.module}`);
  validateManifest(candidate);
  const m = (manifest = candidate);
  log = createLogger({ node: cfg.nodeId, component: 'service', service: m.name, version: m.version, instance: cfg.childId });

  // The manifest's converters, before any consumer can meet an old entry.
  for (const step of m.upcasters ?? []) upcasters.register(step.type, step.from, step.to, (body) => step.convert(body));
  // Channels first, so init may already emit.
  const t = (transport = createRedisTransport({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix }));
  // This service's groups are declared before anything is published, so no producer trims
  // what they have not read (the node declares them too, before any instance starts).
  await Promise.all(Object.keys(m.consumes ?? {}).map((name) => t.declareGroups(name, [m.name])));
  const producerOptions = { highWaterMark: cfg.highWaterMark, onHeldByMissingGroups: heldByMissingGroups };
  const producers = new Map(Object.keys(m.produces ?? {}).map((name) => [name, new Channel(t, name, producerOptions)]));
  const rt = (runtime = createServiceContext(m, cfg.childId, log, producers));
  checkStopping();

  state = await m.init?.(rt.ctx);
  initDone = true;
  checkStopping();

  let port: number | undefined;
  if (cfg.port > 0 || (m.http?.length ?? 0) > 0 || m.websocket || m.functions) {
    const http = await import('./serviceHttp.js');
    closeServer = http.closeServer;
    server = http.createServiceHttp({ manifest: m, ctx: rt.ctx, state, log, health, onRequest: () => void httpRequests++, moduleFile: cfg.module });
    port = await http.listen(server, cfg.port);
    checkStopping();
  }
  if (m.functions && cfg.functions) {
    const fl = await import('./functionsListener.js');
    closeServer ??= (await import('./serviceHttp.js')).closeServer;
    functionsServer = fl.createFunctionsServer({ manifest: m, ctx: rt.ctx, state, log, secret: cfg.functions.secret });
    await fl.listenOnSocket(functionsServer, cfg.functions.socket);
    checkStopping();
  }

  consumers = Object.entries(m.consumes ?? {}).map(([name, refs]) =>
    new Channel(t, name).consume(
      {
        group: m.name,
        consumer: cfg.childId,
        batchSize: m.batchSize,
        maxDeliveries: m.maxDeliveries,
        versions: versionsWanted(name, refs),
        onError: (err) => log.warn('channel error', { channel: name, err: reasonOf(err) }),
      },
      (batch, cctx) => rt.inBatch(() => m.handle!(batch, rt.ctx, state), cctx.deadLetter, cctx.publishOnAck),
    ),
  );
  // ready resolves once the group exists and this consumer's own pending entries are handled.
  await Promise.all(consumers.map((c) => c.ready));
  checkStopping();
  // The loop only ends by stop; if it ever fails, crash so the supervisor restarts the instance.
  for (const c of consumers) c.done.catch(crash('consumer failed'));

  ready = true;
  log.info('ready', { port, consumes: Object.keys(m.consumes ?? {}), produces: Object.keys(m.produces ?? {}) });
  // A mount only when there are public routes: nginx proxies it (runtime-only ports stay private).
  const mount = port !== undefined && ((m.http?.length ?? 0) > 0 || m.websocket) ? (m.mount ?? `/${m.name}`) : undefined;
  link.ready({ port, version: m.version, ...(mount ? { mount } : {}) });
}

/** Publishes held because a declared consumer has never started: an operator's problem, so a warning and a counter. */
let publishesHeldByMissingGroups = 0;
const heldWarnedAt = new Map<string, number>();
function heldByMissingGroups(info: { channel: string; backlog: number; missing: string[] }): void {
  publishesHeldByMissingGroups++;
  // Once per channel every 10 s: a device retrying a refused request holds the next publish too.
  if (Date.now() - (heldWarnedAt.get(info.channel) ?? 0) < 10_000) return;
  heldWarnedAt.set(info.channel, Date.now());
  log.warn('publish held: a declared consumer of the channel has never started, so its entries are kept, not trimmed; start it or undeclare it', {
    channel: info.channel,
    missingGroups: info.missing,
    backlog: info.backlog,
  });
}

/** The stack of a thrown Error (undefined for other values, whose reason says it all). */
function stackOf(err: unknown): string | undefined {
  return err instanceof Error && typeof err.stack === 'string' ? err.stack : undefined;
}

function checkStopping(): void {
  if (stopping) throw new Stopped('stopped while starting');
}

// ---- health ------------------------------------------------------------------------------

function health(): ServiceHealth {
  if (stopping) return { healthy: false, detail: 'stopping' };
  if (!ready) return { healthy: false, detail: 'starting' };
  if (!manifest?.health) return { healthy: true };
  try {
    const h = manifest.health(state);
    if (typeof h?.healthy !== 'boolean') return { healthy: false, detail: `health() returned ${JSON.stringify(h)}, not { healthy: boolean }` };
    return h.detail === undefined ? { healthy: h.healthy } : { healthy: h.healthy, detail: String(h.detail) };
  } catch (err) {
    return { healthy: false, detail: `health() threw: ${reasonOf(err)}` };
  }
}

function status(): ChildStatus {
  const sum = (key: 'handled' | 'failed' | 'deadLettered') => consumers.reduce((n, c) => n + c.stats[key], 0);
  // The runtime's own counters come last, so a custom counter cannot mask them.
  const counters: Record<string, number> = {
    ...runtime?.ctx.counters,
    handled: sum('handled'),
    failed: sum('failed'),
    deadLettered: sum('deadLettered'),
    emitted: runtime?.emitted() ?? 0,
    httpRequests,
    publishesHeldByMissingGroups,
  };
  return { ...health(), counters };
}

// ---- stop --------------------------------------------------------------------------------

async function stop(): Promise<void> {
  stopping = true;
  log.info('stopping');
  // Start checks `stopping` between steps; the step in progress is bounded by the start timeout.
  const startError = await starting.then(
    () => null,
    (err: unknown) => (err instanceof Stopped ? null : err),
  );
  if (startError !== null) throw startError;
  // Quiesce every source of work before the service's own stop hook tears its resources down.
  await Promise.all([...consumers.map((c) => c.stop()), server && closeServer ? closeServer(server, HTTP_GRACE_MS) : undefined, functionsServer && closeServer ? closeServer(functionsServer, HTTP_GRACE_MS) : undefined]);
  if (initDone && manifest?.stop && runtime) await manifest.stop(runtime.ctx, state);
  await transport?.close();
  log.info('stopped', { counters: status().counters });
}
