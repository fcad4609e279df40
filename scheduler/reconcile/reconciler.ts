/**
 * The node's reconciler: every interval it reads the placements desired of this node, makes its
 * `services` supervisor match them (start what is missing, stop what is no longer placed here,
 * restart what changed version, module or config) and writes back the actual state of each.
 * Desired-vs-actual is compared continuously, not only on change: drift (a child that vanished,
 * a supervisor restarted empty) is the main failure class of simple deploy platforms.
 *
 * An instance that keeps crashing is not left to its supervisor's restart intensity (which
 * would take its healthy siblings down with it): after CRASH_LIMIT restarts the reconciler stops
 * it, reports it failed with the last exit, and tries again after a growing backoff.
 */
import type { Logger } from '../../supervisor/log.js';
import { inProcessChild } from '../../supervisor/inProcessChild.js';
import type { ChildSpec } from '../../supervisor/types.js';
import { desiredFor, reportActual, type ActualReport, type DesiredInstance } from '../placements.js';
import type { StoreRef } from '../store/storeLink.js';
import type { HostedInstance, InstanceRequest, ServicesHost } from './servicesHost.js';

export interface ReconcilerOptions {
  nodeId: string;
  store: StoreRef;
  host: ServicesHost;
  intervalMs: number;
  log: Logger;
}

const CRASH_LIMIT = 3;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

interface Failure {
  detail: string;
  retryAt: number;
  backoffMs: number;
}

export function instanceId(service: string, instance: number): string {
  return `${service}#${instance + 1}`;
}

function requestFor(d: DesiredInstance): InstanceRequest {
  return { id: instanceId(d.service, d.instance), service: d.service, version: d.version, releasePath: d.releasePath, module: d.module, config: d.config };
}

function sameRequest(a: InstanceRequest, b: InstanceRequest): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Reconciler {
  private readonly failures = new Map<string, Failure>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick()
        .catch((err: unknown) => this.options.log.warn('reconcile failed; retrying', { err }))
        .finally(() => {
          this.inFlight = undefined;
          this.schedule(this.options.intervalMs);
        });
    }, ms);
  }

  /** One pass: desired → actions → report. Exposed for tests. */
  async tick(): Promise<void> {
    const { store, host, nodeId, log } = this.options;
    const pool = store.pool;
    if (!pool || !host.ready()) return;
    const desired = (await desiredFor(pool, nodeId)).filter((d) => d.desiredState === 'running');
    const want = new Map(desired.map((d) => [instanceId(d.service, d.instance), requestFor(d)]));
    for (const inst of host.instances()) {
      const request = want.get(inst.id);
      if (!this.running) return;
      if (!request) {
        log.info('stopping instance no longer placed here', { instance: inst.id });
        await host.stop(inst.id);
      } else if (!sameRequest(inst.request, request)) {
        log.info('restarting instance for a new version or spec', { instance: inst.id, from: inst.request.version, to: request.version });
        await host.stop(inst.id);
      } else if (inst.restarts >= CRASH_LIMIT) {
        const detail = `crashed ${CRASH_LIMIT} times: ${inst.detail ?? 'no detail'}`;
        log.warn('instance keeps crashing; stopping it and backing off', { instance: inst.id, detail });
        await host.stop(inst.id);
        this.recordFailure(inst.id, detail);
      }
    }
    for (const id of this.failures.keys()) if (!want.has(id)) this.failures.delete(id);
    const hosted = new Map(host.instances().map((i) => [i.id, i]));
    for (const request of want.values()) {
      if (!this.running) return;
      if (hosted.has(request.id)) continue;
      const failure = this.failures.get(request.id);
      if (failure && performance.now() < failure.retryAt) continue;
      try {
        log.info('starting instance', { instance: request.id, version: request.version });
        await host.start(request);
        // Started: keep the backoff until it has run a while, forget the failure text.
        if (failure) failure.detail = '';
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        log.warn('instance failed to start', { instance: request.id, detail });
        this.recordFailure(request.id, detail);
      }
    }
    const now = new Map(host.instances().map((i) => [i.id, i]));
    const reports = desired.map((d) => this.report(d, now.get(instanceId(d.service, d.instance))));
    await reportActual(pool, nodeId, reports);
  }

  private recordFailure(id: string, detail: string): void {
    const previous = this.failures.get(id);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
    this.failures.set(id, { detail, backoffMs, retryAt: performance.now() + backoffMs });
  }

  private report(d: DesiredInstance, inst: HostedInstance | undefined): ActualReport {
    const base = { service: d.service, instance: d.instance, version: d.version };
    if (!inst) {
      const failure = this.failures.get(instanceId(d.service, d.instance));
      return { ...base, state: failure?.detail ? 'failed' : 'pending', port: null, pid: null, healthy: null, detail: failure?.detail || null };
    }
    if (inst.state === 'running' && inst.healthy !== false) {
      const failure = this.failures.get(inst.id);
      if (failure && failure.detail === '' && performance.now() > failure.retryAt + BACKOFF_MAX_MS) this.failures.delete(inst.id);
    }
    const state: ActualReport['state'] =
      inst.state === 'running' ? 'running' : inst.state === 'starting' || inst.state === 'restarting' ? 'starting' : inst.state === 'stopping' ? 'stopping' : 'failed';
    return { ...base, state, port: inst.port, pid: inst.pid, healthy: inst.healthy, detail: inst.detail };
  }
}

export function reconcilerChild(options: ReconcilerOptions & { id?: string }): ChildSpec {
  return inProcessChild({
    id: options.id ?? 'reconciler',
    start: async () => {
      const reconciler = new Reconciler(options);
      reconciler.start();
      return { stop: () => reconciler.stop() };
    },
  });
}
