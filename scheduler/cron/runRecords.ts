/**
 * The run history of cron jobs (the `job_runs` table): claiming a leader's tick (and deciding in
 * the same transaction whether it runs or is recorded as skipped), claiming a run by hand,
 * recording how a run ended, failing the runs a deposed leader left behind, and listing runs.
 * All SQL on job_runs is here; cronRunner.ts runs the loop and the targets.
 */
import { withFence, type Fence } from '../lease.js';
import { recordAudit } from '../store/audit.js';
import { inTransaction, type Db } from '../../core/pgTransaction.js';
import { JobNotFoundError } from './errors.js';
import type { JobConcurrency, JobRun, JobRunState } from './jobSpec.js';

/** A run by hand is not a leader's: epoch 0 marks it in job_runs. */
export const MANUAL_RUN_EPOCH = 0;
/**
 * How long past its job's timeout a 'running' run still blocks the next tick of a 'forbid'
 * job. A live process ends and records every run by then (killed at the timeout, SIGKILL 2 s
 * later, the record retried for a few seconds); one still 'running' after that was left by a
 * process that died (a `run-job` whose CLI was killed, a leader whose runs failOrphanedRuns
 * did not reach), and must not block its job for ever.
 */
export const STALE_RUN_GRACE_MS = 30_000;
export function wholeSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export interface RunRow {
  id: string | number;
  job_name: string;
  scheduled_for: Date | string;
  leader_epoch: string | number;
  node_id: string | null;
  state: JobRunState;
  result: unknown;
  error: string | null;
  started_at: Date | string;
  finished_at: Date | string | null;
}

export const RUN_COLUMNS = 'id, job_name, scheduled_for, leader_epoch, node_id, state, result, error, started_at, finished_at';

/** Maps a job_runs row (also the json form from row_to_json, where dates are strings). */
export function toJobRun(r: RunRow): JobRun {
  return {
    id: Number(r.id),
    jobName: r.job_name,
    scheduledFor: new Date(r.scheduled_for),
    leaderEpoch: Number(r.leader_epoch),
    nodeId: r.node_id,
    state: r.state,
    result: r.result ?? null,
    error: r.error,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
  };
}

/** A claimed tick: to be run, or recorded as skipped because `stillRunning` was still going. */
export type TickClaim = { id: number; state: 'running' } | { id: number; state: 'skipped'; stillRunning: JobRun };

/**
 * Claims one tick of a job for the leader holding `fence`, and decides in the same transaction
 * whether it runs: state 'running' (run it), 'skipped' (a 'forbid' job with a run still going;
 * the row is already final), or null when the tick was already claimed (by us or a previous
 * leader). FencingError when `fence` is stale; JobNotFoundError when the job was removed.
 */
export async function claimTick(db: Db, fence: Fence, jobName: string, tick: Date, nodeId: string): Promise<TickClaim | null> {
  return withFence(db, fence, async (client) => {
    // The job's row lock makes the check and the claim one decision: claims of the same job
    // (two ticks, or two leaders across a failover) queue here, and each decides after the one
    // before it committed. It must be a statement of its own: under READ COMMITTED a statement
    // sees what was committed when it began, so a NOT EXISTS in the statement that waited for
    // the lock would miss the run the claim it waited for just inserted. NO KEY UPDATE, not
    // UPDATE: a run by hand (its foreign key check takes KEY SHARE) need not wait for a claim.
    const job = await client.query<{ concurrency: JobConcurrency; timeout_ms: number }>(
      'SELECT concurrency, timeout_ms FROM jobs WHERE name = $1 FOR NO KEY UPDATE',
      [jobName],
    );
    if (!job.rows[0]) throw new JobNotFoundError(jobName);
    const { concurrency, timeout_ms: timeoutMs } = job.rows[0];
    let stillRunning: JobRun | null = null;
    if (concurrency === 'forbid') {
      // A run a previous leader left 'running' is marked failed now rather than at this
      // leader's next scheduler tick, which may come after this one: it cannot block the job.
      await failOrphanedRuns(client, fence.epoch, nodeId, jobName);
      // Any other run still going counts, a run by hand too; one older than the timeout plus
      // the grace was left by a process that died without being recorded, and no longer does.
      const r = await client.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM job_runs
         WHERE job_name = $1 AND state = 'running' AND started_at > now() - make_interval(secs => $2::double precision / 1000)
         ORDER BY started_at LIMIT 1`,
        [jobName, timeoutMs + STALE_RUN_GRACE_MS],
      );
      stillRunning = r.rows[0] ? toJobRun(r.rows[0]) : null;
    }
    const scheduledFor = wholeSecond(tick);
    if (!stillRunning) {
      const r = await client.query<{ id: string }>(
        `INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, node_id, state)
         VALUES ($1, $2, $3, $4, 'running')
         ON CONFLICT (job_name, scheduled_for) DO NOTHING
         RETURNING id`,
        [jobName, scheduledFor, fence.epoch, nodeId],
      );
      return r.rows[0] ? { id: Number(r.rows[0].id), state: 'running' } : null;
    }
    const error =
      `not run: run ${stillRunning.id} (tick ${stillRunning.scheduledFor.toISOString()}, on ${stillRunning.nodeId ?? '?'}, ` +
      `started ${stillRunning.startedAt.toISOString()}) was still running and the job's concurrency is 'forbid'`;
    const still = { id: stillRunning.id, scheduledFor: stillRunning.scheduledFor, nodeId: stillRunning.nodeId, startedAt: stillRunning.startedAt };
    // The tick that is still running is this very tick when it was claimed already: the
    // conflict then leaves its row alone and says "already claimed".
    const r = await client.query<{ id: string }>(
      `INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, node_id, state, result, error, finished_at)
       VALUES ($1, $2, $3, $4, 'skipped', $5, $6, now())
       ON CONFLICT (job_name, scheduled_for) DO NOTHING
       RETURNING id`,
      [jobName, scheduledFor, fence.epoch, nodeId, JSON.stringify({ stillRunning: still }), error],
    );
    return r.rows[0] ? { id: Number(r.rows[0].id), state: 'skipped', stillRunning } : null;
  });
}

/**
 * Claims a run by hand of `name` by `actor` (recorded with scheduled_for = the database's now(),
 * leader epoch 0 and node_id = actor) and audits it as 'job.run'. JobNotFoundError when the job
 * is removed between the caller's read and this insert.
 */
export async function claimManualRun(db: Db, name: string, actor: string): Promise<{ id: string; scheduled_for: Date }> {
  return inTransaction(db, async (client) => {
    const r = await client.query<{ id: string; scheduled_for: Date }>(
      `INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, node_id, state)
       VALUES ($1, now(), $2, $3, 'running') RETURNING id, scheduled_for`,
      [name, MANUAL_RUN_EPOCH, actor],
    );
    await recordAudit(client, { actor, kind: 'job.run', subject: name, detail: { runId: Number(r.rows[0]!.id) } });
    return r.rows[0]!;
  }).catch((err: unknown) => {
    // Removed between the read and the insert.
    if ((err as { code?: string }).code === '23503') throw new JobNotFoundError(name);
    throw err;
  });
}

/** Recent runs, newest tick first; of one job when `name` is given. */
export async function listRuns(db: Db, name?: string, limit = 50): Promise<JobRun[]> {
  if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`limit: ${limit} is invalid; expected a positive integer`);
  const r = await db.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM job_runs WHERE ($1::text IS NULL OR job_name = $1)
     ORDER BY scheduled_for DESC, id DESC LIMIT $2`,
    [name ?? null, limit],
  );
  return r.rows.map(toJobRun);
}

/**
 * Records how a run ended. A plain update by id, not fenced: the tick was claimed under the
 * fence, and the outcome of work already done must be recorded even if leadership moved since.
 */
export async function finishRun(db: Db, id: number, outcome: { state: 'succeeded'; result: unknown } | { state: 'failed'; error: string }): Promise<JobRun | null> {
  const r = await db.query<RunRow>(
    `UPDATE job_runs SET state = $2, result = $3, error = $4, finished_at = now() WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
    [id, outcome.state, outcome.state === 'succeeded' ? JSON.stringify(outcome.result ?? null) : null, outcome.state === 'failed' ? outcome.error : null],
  );
  return r.rows[0] ? toJobRun(r.rows[0]) : null;
}

/**
 * Marks failed the runs still 'running' that a previous leader claimed and cannot finish (it
 * died or lost the lease mid-run): without this they would read as running for ever. A run is
 * claimed at most once, so such a tick stays un-run, and the record says so. The new leader
 * calls it inside its fenced tick, and claimTick for the one job it claims (`jobName`), so that
 * such a run stops blocking a 'forbid' job at the new leader's first tick of it.
 */
export async function failOrphanedRuns(db: Db, epoch: number, nodeId: string, jobName?: string): Promise<number> {
  const r = await db.query(
    `UPDATE job_runs SET state = 'failed', finished_at = now(),
       error = 'the leader that claimed this run (' || coalesce(node_id, '?') || ', epoch ' || leader_epoch || ') lost leadership before it finished; the tick was not run again'
     WHERE state = 'running' AND leader_epoch > 0 AND leader_epoch < $1 AND node_id IS DISTINCT FROM $2
       AND ($3::text IS NULL OR job_name = $3)`,
    [epoch, nodeId, jobName ?? null],
  );
  return r.rowCount ?? 0;
}
