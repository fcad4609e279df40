/**
 * The scheduler as it runs on every node: all nodes campaign for the `scheduler` lease, the one
 * that holds it plans. Each tick of the leader is one fenced transaction: mark silent nodes
 * down, plan the placements (scheduler/placement/plan.ts) and write them, advance the rolling
 * updates. A deposed leader's tick fails its fence check and writes nothing. Cron jobs run on
 * the leader only (CronRunner, started on election and stopped on deposal).
 */
import type { Logger } from '../../core/log.js';
import type { ChildSpec } from '../../supervisor/types.js';
import { CronRunner } from '../cron/cronRunner.js';
import { failOrphanedRuns } from '../cron/runRecords.js';
import { FencingError } from '../errors.js';
import { LeaderElector } from '../leaderElector.js';
import { withFence } from '../lease.js';
import { plan } from '../placement/plan.js';
import { applyPlanIn, listPlacements } from '../placements.js';
import { listNodes, markDownNodes } from '../registry.js';
import { stepDeployments } from '../rollout.js';
import { listServiceSpecs } from '../specs.js';
import type { StoreRef } from '../store/storeLink.js';
import { wakeableChild, type WakeRef } from '../store/wakeUps.js';

export const SCHEDULER_LEASE = 'scheduler';

export interface SchedulerLoopOptions {
  nodeId: string;
  store: StoreRef;
  leaseMs: number;
  tickMs: number;
  nodeTimeoutMs: number;
  log: Logger;
}

export class SchedulerLoop {
  private readonly elector: LeaderElector;
  private readonly cron: CronRunner;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> | undefined;
  /** A change was notified during a tick: tick again as soon as it ends. */
  private again = false;

  constructor(private readonly options: SchedulerLoopOptions) {
    const pool = options.store.pool;
    if (!pool) throw new Error('the store link is not up; the scheduler starts after it');
    // Holder = node id: unique in the fleet (registration refuses a collision) and readable in `leases`.
    this.elector = new LeaderElector({ db: pool, name: SCHEDULER_LEASE, holder: options.nodeId, ttlMs: options.leaseMs, log: options.log });
    // Jobs are re-read every tick, so a job defined or changed takes effect as fast as a placement.
    this.cron = new CronRunner({ db: pool, nodeId: options.nodeId, fence: () => this.elector.fence, reloadEveryMs: options.tickMs, log: options.log });
    this.elector.on('error', (err) => options.log.warn('lease query failed', { err }));
    this.elector.on('elected', (lease) => {
      options.log.info('leading the scheduler', { epoch: lease.epoch });
      this.cron.start();
      this.schedule(0);
    });
    this.elector.on('deposed', (reason) => {
      options.log.warn('no longer leading the scheduler', { reason });
      void this.cron.stop();
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  start(): void {
    this.running = true;
    this.elector.start();
  }

  /** Something the leader decides on changed (a notification): tick now if leading. */
  poke(): void {
    if (!this.running || !this.elector.isLeader) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
    await this.cron.stop();
    // Give the lease up at once: a standby takes over without waiting for it to expire.
    await this.elector.stop();
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.inFlight = this.tick()
        .catch((err: unknown) => {
          if (err instanceof FencingError) this.options.log.warn('tick refused: no longer the leader', { err });
          else this.options.log.warn('scheduler tick failed; retrying', { err });
        })
        .finally(() => {
          this.inFlight = undefined;
          const soon = this.again;
          this.again = false;
          if (this.elector.isLeader) this.schedule(soon ? 0 : this.options.tickMs);
        });
    }, ms);
  }

  /** One leader tick; exposed for tests. */
  async tick(): Promise<void> {
    const fence = this.elector.fence;
    const pool = this.options.store.pool;
    if (!fence || !pool) return;
    const { log, nodeTimeoutMs } = this.options;
    await withFence(pool, fence, async (client) => {
      const down = await markDownNodes(client, nodeTimeoutMs, `scheduler@${this.options.nodeId}`);
      if (down.length > 0) log.warn('nodes marked down', { nodes: down, timeoutMs: nodeTimeoutMs });
      // One after another: a pg client runs one query at a time.
      const specs = await listServiceSpecs(client);
      const nodes = await listNodes(client);
      const placements = await listPlacements(client);
      const result = plan({ specs, nodes, placements });
      for (const c of result.changes) log.info(`placement ${c.kind}`, { instance: `${c.service}#${c.instance + 1}`, node: c.nodeId, from: c.from, reason: c.reason, unplaceable: c.unplaceable });
      for (const r of result.removals) log.info('placement removed', { instance: `${r.service}#${r.instance + 1}`, node: r.nodeId, reason: r.reason });
      await applyPlanIn(client, fence, result, `scheduler@${this.options.nodeId}`);
      await stepDeployments(client, `scheduler@${this.options.nodeId}`);
      const orphans = await failOrphanedRuns(client, fence.epoch, this.options.nodeId);
      if (orphans > 0) log.warn('job runs of a previous leader marked failed', { runs: orphans });
    });
  }
}

export function schedulerChild(options: SchedulerLoopOptions & { id?: string; wake?: WakeRef }): ChildSpec {
  return wakeableChild(options.id ?? 'scheduler', 'scheduler', options.wake, () => new SchedulerLoop(options));
}
