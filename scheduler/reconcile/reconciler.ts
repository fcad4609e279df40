/**
 * The node's reconciler: every interval it reads the placements desired of this node, makes its
 * `services` supervisor match them (start what is missing, stop what is no longer placed here,
 * restart what changed version, module or config) and writes back the actual state of each.
 * Desired-vs-actual is compared continuously, not only on change: drift (a child that vanished,
 * a supervisor restarted empty) is the main failure class of simple deploy platforms.
 *
 * A changed version is a hot swap (converge): new beside old, then the old drains.
 *
 * An instance that keeps crashing is not left to its supervisor's restart intensity (which
 * would take its healthy siblings down with it): after CRASH_LIMIT restarts the reconciler stops
 * it, reports it failed with the last exit, and tries again after a growing backoff.
 */
import { backoff } from '../../core/backoff.js';
import type { Logger } from '../../core/log.js';
import { PassLoop } from '../passLoop.js';
import type { ChildSpec } from '../../supervisor/types.js';
import { desiredFor, reportActual, type ActualReport, type DesiredInstance } from '../placements.js';
import type { StoreRef } from '../store/storeLink.js';
import { wakeableChild, type WakeRef } from '../store/wakeUps.js';
import { childIdOf, ReleasePreparing, type BeforeRetire, type HostedInstance, type InstanceRequest, type ServicesHost } from './servicesHost.js';

export interface ReconcilerOptions {
  nodeId: string;
  store: StoreRef;
  host: ServicesHost;
  intervalMs: number;
  log: Logger;
  /** Switches HTTP traffic during a hot swap (nginx); default: nothing to switch. */
  beforeRetire?: BeforeRetire;
}

const CRASH_LIMIT = 3;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** An instance failing more than this share of its messages (with at least ERROR_MIN failures) is unhealthy. */
const ERROR_RATE = 0.5;
const ERROR_MIN = 5;

interface Failure {
  /** What failed: a different request (a new release, another spec) is tried at once. */
  request: InstanceRequest;
  detail: string;
  retryAt: number;
  /** Failures of this request in a row, for the backoff. */
  attempts: number;
}

export function slotOf(service: string, instance: number): string {
  return `${service}#${instance + 1}`;
}

function requestFor(d: DesiredInstance): InstanceRequest {
  return { slot: slotOf(d.service, d.instance), service: d.service, version: d.version, releasePath: d.releasePath, module: d.module, config: d.config };
}

function sameRequest(a: InstanceRequest, b: InstanceRequest): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Failed messages since the instance started, as a share of all it took; the health check's second half. */
function errorRate(inst: HostedInstance): { failing: boolean; detail: string | null } {
  const failed = (inst.counters.failed ?? 0) + (inst.counters.deadLettered ?? 0);
  const total = failed + (inst.counters.handled ?? 0);
  if (failed < ERROR_MIN || failed / total <= ERROR_RATE) return { failing: false, detail: null };
  return { failing: true, detail: `failing ${failed} of ${total} messages` };
}

export class Reconciler {
  private readonly failures = new Map<string, Failure>();
  /** Slots whose release is still being built on this node: why they have not started yet. */
  private readonly preparing = new Map<string, string>();
  /** tick() also works without start() (tests). */
  private readonly loop: PassLoop;

  constructor(private readonly options: ReconcilerOptions) {
    this.loop = new PassLoop(() => this.tick(), options.intervalMs, (err) => options.log.warn('reconcile failed; retrying', { err }));
  }

  start(): void {
    this.loop.start();
  }

  /** A change of this node's placements was notified: reconcile now instead of at the next interval. */
  poke(): void {
    this.loop.poke();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  private get stopping(): boolean {
    return this.loop.stopping;
  }

  /** One pass: desired → actions → report. Exposed for tests. */
  async tick(): Promise<void> {
    const { store, host, nodeId } = this.options;
    const pool = store.pool;
    if (!pool || !host.ready()) return;
    const desired = (await desiredFor(pool, nodeId)).filter((d) => d.desiredState === 'running');
    const want = new Map(desired.map((d) => [slotOf(d.service, d.instance), requestFor(d)]));
    const bySlot = new Map<string, HostedInstance[]>();
    for (const inst of host.instances()) bySlot.set(inst.request.slot, [...(bySlot.get(inst.request.slot) ?? []), inst]);
    for (const [slot, hosted] of bySlot) {
      if (this.stopping) return;
      if (!want.has(slot)) {
        this.options.log.info('stopping instance no longer placed here', { slot, instances: hosted.map((h) => h.id) });
        for (const h of hosted) await host.stop(h.id);
      }
    }
    for (const id of this.failures.keys()) if (!want.has(id)) this.failures.delete(id);
    for (const id of this.preparing.keys()) if (!want.has(id)) this.preparing.delete(id);
    for (const request of want.values()) {
      if (this.stopping) return;
      await this.converge(request, bySlot.get(request.slot) ?? []);
    }
    const now = new Map<string, HostedInstance>();
    for (const inst of host.instances()) if (want.has(inst.request.slot) && sameRequest(inst.request, want.get(inst.request.slot)!)) now.set(inst.request.slot, inst);
    const reports = desired.map((d) => this.report(d, now.get(slotOf(d.service, d.instance))));
    await reportActual(pool, nodeId, reports);
  }

  /**
   * Makes one slot run exactly its request. A new version (or spec) is a hot swap: the new
   * instance starts beside the old one (another consumer name in the same group), and only once
   * it is ready is traffic switched and the old one told to stop fetching, finish, ack and exit.
   * If the new one fails to start, the old one keeps running and the failure is reported.
   */
  private async converge(request: InstanceRequest, hosted: HostedInstance[]): Promise<void> {
    const { host, log } = this.options;
    const current = hosted.find((h) => sameRequest(h.request, request));
    const others = hosted.filter((h) => h !== current);
    if (current) {
      if (current.restarts >= CRASH_LIMIT) {
        const detail = `crashed ${CRASH_LIMIT} times: ${current.detail ?? 'no detail'}`;
        log.warn('instance keeps crashing; stopping it and backing off', { instance: current.id, detail });
        await host.stop(current.id);
        this.recordFailure(request, detail);
      }
      for (const old of others) await this.retire(request.service, [old], current);
      return;
    }
    const failure = this.failures.get(request.slot);
    if (failure && sameRequest(failure.request, request) && performance.now() < failure.retryAt) return;
    // Same child id (same release, other config): no side-by-side run possible, stop first.
    const clash = others.find((h) => h.id === childIdOf(request));
    if (clash) await host.stop(clash.id);
    try {
      if (!this.preparing.has(request.slot)) log.info(others.length > 0 ? 'hot swap: starting the new version beside the old' : 'starting instance', { slot: request.slot, version: request.version, replacing: others.map((o) => o.id) });
      await host.start(request);
      if (this.preparing.delete(request.slot)) log.info(others.length > 0 ? 'hot swap: release built here; new version started beside the old' : 'release built here; instance started', { slot: request.slot, version: request.version });
      if (failure) failure.detail = '';
    } catch (err) {
      if (err instanceof ReleasePreparing) {
        // Not a failure: the old version (if any) keeps running until the release is here.
        if (!this.preparing.has(request.slot)) log.info('waiting for the release to be built on this node', { slot: request.slot, version: request.version, detail: err.message });
        this.preparing.set(request.slot, err.message);
        return;
      }
      this.preparing.delete(request.slot);
      const detail = err instanceof Error ? err.message : String(err);
      log.warn('instance failed to start', { slot: request.slot, version: request.version, detail, keeps: others.map((o) => o.id) });
      this.recordFailure(request, detail);
      return;
    }
    const successor = host.instances().find((h) => sameRequest(h.request, request));
    const retiring = others.filter((o) => o !== clash);
    if (successor && retiring.length > 0) await this.retire(request.service, retiring, successor);
  }

  private async retire(service: string, retiring: HostedInstance[], successor: HostedInstance): Promise<void> {
    const { host, log, beforeRetire } = this.options;
    if (beforeRetire) {
      await beforeRetire(service, retiring, successor).catch((err: unknown) => log.warn('switching traffic before the swap failed; retiring anyway', { err }));
    }
    for (const old of retiring) {
      const t0 = performance.now();
      await host.stop(old.id);
      log.info('hot swap: old instance drained and stopped', { instance: old.id, successor: successor.id, drainMs: Math.round(performance.now() - t0) });
    }
  }

  private recordFailure(request: InstanceRequest, detail: string): void {
    const previous = this.failures.get(request.slot);
    const attempts = previous && sameRequest(previous.request, request) ? previous.attempts + 1 : 0;
    const backoffMs = backoff(attempts, { baseMs: BACKOFF_MIN_MS, maxMs: BACKOFF_MAX_MS });
    this.failures.set(request.slot, { request, detail, attempts, retryAt: performance.now() + backoffMs });
  }

  private report(d: DesiredInstance, inst: HostedInstance | undefined): ActualReport {
    const slot = slotOf(d.service, d.instance);
    const base = { service: d.service, instance: d.instance, version: d.version };
    const failure = this.failures.get(slot);
    if (!inst) {
      const preparing = this.preparing.get(slot);
      if (preparing) return { ...base, state: 'starting', port: null, pid: null, healthy: null, detail: preparing };
      return { ...base, state: failure?.detail ? 'failed' : 'pending', port: null, pid: null, healthy: null, detail: failure?.detail || null };
    }
    if (inst.state === 'running' && inst.healthy !== false && failure?.detail === '' && performance.now() > failure.retryAt + BACKOFF_MAX_MS) this.failures.delete(slot);
    const errors = errorRate(inst);
    const state: ActualReport['state'] =
      inst.state === 'running' ? 'running' : inst.state === 'starting' || inst.state === 'restarting' ? 'starting' : inst.state === 'stopping' ? 'stopping' : 'failed';
    const healthy = errors.failing ? false : inst.healthy;
    return { ...base, state, port: inst.port, pid: inst.pid, healthy, detail: errors.detail ?? inst.detail };
  }
}

export function reconcilerChild(options: ReconcilerOptions & { id?: string; wake?: WakeRef }): ChildSpec {
  return wakeableChild(options.id ?? 'reconciler', 'reconciler', options.wake, () => new Reconciler(options));
}
