/**
 * CronRunner: runs the enabled jobs on their schedules, on the leader only, each tick at most
 * once across the fleet. This module is the loop and the running of targets; every job_runs
 * statement (claims, outcomes, orphans) is in runRecords.ts.
 *
 * One node-cron task per enabled job, kept in step with the jobs table by a reload every few
 * seconds. Leadership is checked twice: the caller starts the runner on `elected` and stops it
 * on `deposed`, and every tick asks `fence()` again. A tick is claimed by inserting its
 * job_runs row (job, tick time) inside withFence: the UNIQUE (job_name, scheduled_for) key
 * makes a second claim of the same tick a no-op, and the fence makes a deposed leader's claim
 * fail. So after a failover the new leader cannot re-run a tick the old one claimed, and the
 * old one cannot claim a tick after the new one took over. The tick time is truncated to the
 * whole second, so leaders whose clocks differ by less than a second still name a tick alike.
 *
 * A run claimed by a leader that then crashes stays 'running' in job_runs: it is not retried,
 * because nobody can tell whether its effect happened (at most once, not at least once).
 *
 * Concurrency: the claim also decides whether the tick runs. For a 'forbid' job, a tick while
 * another run of the job is still going is recorded as 'skipped' instead (same transaction, same
 * unique key), so a slow job's runs never pile up and the history still shows every tick.
 * 'Replace' (Kubernetes' third policy) is not offered: the run to stop may be a process of
 * another node's leader, which this one cannot reach or kill.
 */
import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import { messageOf } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import { FencingError } from '../errors.js';
import type { Fence } from '../lease.js';
import type { Db } from '../../core/pgTransaction.js';
import { JobNotFoundError } from './errors.js';
import { getJob, listJobs } from './jobs.js';
import type { Job, JobRun } from './jobSpec.js';
import { claimManualRun, claimTick, finishRun, wholeSecond, type TickClaim } from './runRecords.js';
import { runJob } from './runJob.js';

export interface CronRunnerOptions {
  db: Db;
  /** Recorded on each run this runner claims. */
  nodeId: string;
  /** The current leader fence, or null when not leading (wire it to LeaderElector.fence). */
  fence: () => Fence | null;
  /** How often the jobs table is re-read; default 5 000 ms. */
  reloadEveryMs?: number;
  log?: Logger;
}

/** Time allowed on stop, beyond a run's own timeout, for the kill and the final update. */
const STOP_GRACE_MS = 5_000;
const RECORD_ATTEMPTS = 3;
const silent = createLogger({}, { write: () => undefined });

/** Runs the target of a claimed run and records its end; retries the final update briefly. */
async function executeRun(db: Db, id: number, job: Job, scheduledFor: Date, log: Logger, requestedBy: string): Promise<JobRun | null> {
  const started = performance.now();
  let outcome: Parameters<typeof finishRun>[2];
  try {
    outcome = { state: 'succeeded', result: await runJob(db, job, { runId: id, scheduledFor, requestedBy }) };
  } catch (err) {
    outcome = { state: 'failed', error: messageOf(err) };
  }
  const fields = { job: job.name, runId: id, scheduledFor: scheduledFor.toISOString(), ms: Math.round(performance.now() - started) };
  if (outcome.state === 'failed') log.warn('job run failed', { ...fields, error: outcome.error });
  else log.info('job run succeeded', fields);
  for (let attempt = 1; ; attempt++) {
    try {
      return await finishRun(db, id, outcome);
    } catch (err) {
      if (attempt >= RECORD_ATTEMPTS) throw err;
      log.warn('recording the end of a job run failed; retrying', { ...fields, attempt, err });
      await new Promise((r) => setTimeout(r, 250 * 4 ** (attempt - 1)));
    }
  }
}

/**
 * Runs a job now, in this process, outside the schedule and regardless of `enabled` (for
 * `hydra scheduler run-job NAME`): recorded like a tick, with scheduled_for = the database's
 * now(), leader epoch 0 and node_id = actor. Returns the finished run; a failing target is a
 * run with state 'failed', not a throw. JobNotFoundError for an unknown name. Silent unless
 * given a logger: the CLI prints the returned run, and log lines on stdout would corrupt --json.
 * It runs whatever the job's concurrency (an operator asked for this run, as Kubernetes runs a
 * Job created from a CronJob by hand); while it goes, it blocks a 'forbid' job's ticks.
 */
export async function runJobNow(db: Db, name: string, actor: string, log: Logger = silent): Promise<JobRun> {
  const job = await getJob(db, name);
  if (!job) throw new JobNotFoundError(name);
  const claimed = await claimManualRun(db, name, actor);
  const run = await executeRun(db, Number(claimed.id), job, claimed.scheduled_for, log, actor);
  if (!run) throw new JobNotFoundError(name); // removed while it ran: its history went with it
  return run;
}

// ---------------------------------------------------------------------------------------------
// The runner

interface ScheduledJob {
  /** What the task was built from; a change of any of it rebuilds the task. */
  key: string;
  task: ScheduledTask;
}

/** Concurrency is not part of it: claimTick reads it from the job's row at every tick. */
function keyOf(job: Job): string {
  return JSON.stringify([job.schedule, job.target, job.timeoutMs]);
}

/** node-cron's own messages (missed ticks, task failures) go to our logger, not the console. */
function cronLogger(log: Logger): CronLogger {
  const text = (m: string | Error) => (m instanceof Error ? m.message : m);
  return {
    info: (m) => log.info(`node-cron: ${m}`),
    warn: (m) => log.warn(`node-cron: ${m}`),
    error: (m, err) => log.error(`node-cron: ${text(m)}`, err ? { err } : undefined),
    debug: (m, err) => log.debug(`node-cron: ${text(m)}`, err ? { err } : undefined),
  };
}

export class CronRunner {
  private readonly db: Db;
  private readonly nodeId: string;
  private readonly fence: () => Fence | null;
  private readonly reloadEveryMs: number;
  private readonly log: Logger;
  private readonly cronLog: CronLogger;
  private readonly tasks = new Map<string, ScheduledJob>();
  /** Runs (and claims) in progress, with the timeout of their job. */
  private readonly inFlight = new Map<Promise<void>, number>();
  /** Jobs node-cron refused, by key, so each is logged once and not every reload. */
  private readonly refused = new Map<string, string>();
  private running = false;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(options: CronRunnerOptions) {
    this.db = options.db;
    this.nodeId = options.nodeId;
    this.fence = options.fence;
    this.reloadEveryMs = options.reloadEveryMs ?? 5_000;
    if (!Number.isInteger(this.reloadEveryMs) || this.reloadEveryMs < 10) {
      throw new RangeError(`reloadEveryMs: ${options.reloadEveryMs} is invalid; expected an integer of at least 10 ms`);
    }
    this.log = options.log ?? createLogger({ component: 'scheduler.cron', node: options.nodeId });
    this.cronLog = cronLogger(this.log);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Names of the jobs that have a task now. */
  get scheduledJobs(): string[] {
    return [...this.tasks.keys()].sort();
  }

  /** Starts scheduling (loads the jobs at once, then every reloadEveryMs). Idempotent. */
  start(): this {
    if (this.running) return this;
    this.running = true;
    this.log.info('cron runner started');
    const loop = (): void => {
      if (!this.running) return;
      this.reload()
        .catch((err: unknown) => this.log.error('reading the jobs table failed; keeping the current schedule', { err }))
        .finally(() => {
          if (!this.running) return;
          clearTimeout(this.reloadTimer);
          this.reloadTimer = setTimeout(loop, this.reloadEveryMs);
        });
    };
    loop();
    return this;
  }

  /**
   * Stops every task at once (no new tick starts), then waits for the runs in flight to end and
   * be recorded, each up to its job's timeout plus a grace: their outcome belongs in job_runs.
   */
  async stop(): Promise<void> {
    if (this.running) this.log.info('cron runner stopping', { inFlight: this.inFlight.size });
    this.running = false;
    clearTimeout(this.reloadTimer);
    for (const { task } of this.tasks.values()) void task.destroy();
    this.tasks.clear();
    if (this.inFlight.size === 0) return;
    const longest = Math.max(...this.inFlight.values());
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      Promise.allSettled([...this.inFlight.keys()]).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), longest + STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (gaveUp) this.log.warn('runs still in flight after their timeout; stopped waiting', { inFlight: this.inFlight.size });
  }

  /** Re-reads the jobs table now and adds, removes or rebuilds tasks to match. Serialised. */
  reload(): Promise<void> {
    const next = this.reloading.then(() => this.sync());
    this.reloading = next.catch(() => undefined);
    return next;
  }

  private async sync(): Promise<void> {
    const jobs = await listJobs(this.db);
    // Stopped while reading: do not bring tasks back.
    if (!this.running) return;
    const wanted = new Map(jobs.filter((j) => j.enabled).map((j) => [j.name, j]));
    for (const [name, scheduled] of this.tasks) {
      const job = wanted.get(name);
      if (job && keyOf(job) === scheduled.key) continue;
      void scheduled.task.destroy();
      this.tasks.delete(name);
      if (!job) this.log.info('job unscheduled', { job: name });
    }
    for (const name of this.refused.keys()) if (!wanted.has(name)) this.refused.delete(name);
    for (const job of wanted.values()) {
      if (this.tasks.has(job.name)) continue;
      const key = keyOf(job);
      if (this.refused.get(job.name) === key) continue;
      try {
        const task = cron.schedule(job.schedule, (ctx) => this.onTick(job, ctx.date), {
          name: `hydra-job:${job.name}`,
          // Every tick reaches claimTick, which applies the job's concurrency and records a
          // tick it does not run as 'skipped'. node-cron's noOverlap would drop the tick
          // silently (no row), and would only see this process's runs, not another leader's.
          noOverlap: false,
          logger: this.cronLog,
        });
        this.tasks.set(job.name, { key, task });
        this.refused.delete(job.name);
        this.log.info('job scheduled', { job: job.name, schedule: job.schedule });
      } catch (err) {
        // Stored by something that skipped defineJob's check: report once, keep the rest going.
        this.refused.set(job.name, key);
        this.log.error('job not scheduled: node-cron refused its schedule; redefine it with a valid one', { job: job.name, schedule: job.schedule, err });
      }
    }
  }

  /** node-cron's callback: never rejects, so nothing escapes into node-cron or the process. */
  private onTick(job: Job, tick: Date): Promise<void> {
    const run = this.tick(job, tick).catch((err: unknown) => {
      this.log.error('job tick failed', { job: job.name, scheduledFor: wholeSecond(tick).toISOString(), err });
    });
    this.inFlight.set(run, job.timeoutMs);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  private async tick(job: Job, tick: Date): Promise<void> {
    const fence = this.fence();
    if (!this.running || !fence) return;
    const scheduledFor = wholeSecond(tick);
    let claim: TickClaim | null;
    try {
      claim = await claimTick(this.db, fence, job.name, scheduledFor, this.nodeId);
    } catch (err) {
      if (err instanceof FencingError) {
        this.log.warn('tick not claimed: no longer the leader', { job: job.name, scheduledFor: scheduledFor.toISOString(), epoch: fence.epoch });
        return;
      }
      if (err instanceof JobNotFoundError) {
        this.log.info('tick not claimed: the job was removed', { job: job.name });
        return;
      }
      throw err;
    }
    if (claim === null) {
      this.log.debug('tick already claimed', { job: job.name, scheduledFor: scheduledFor.toISOString() });
      return;
    }
    if (claim.state === 'skipped') {
      this.log.info('tick skipped: a run of the job is still going (concurrency forbid)', {
        job: job.name,
        runId: claim.id,
        scheduledFor: scheduledFor.toISOString(),
        stillRunning: claim.stillRunning.id,
      });
      return;
    }
    await executeRun(this.db, claim.id, job, scheduledFor, this.log.child({ epoch: fence.epoch }), `scheduler@${this.nodeId}`);
  }
}
