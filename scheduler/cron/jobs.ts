/**
 * Cron job definitions (the `jobs` table) and their run history (`job_runs`). Every field is
 * checked when the job is defined, so a bad cron expression or an empty argv is refused at the
 * CLI with the field and value named, instead of surfacing later as a task that never fires or
 * a run that fails on every tick on the leader. Definitions, enabling and removal are audited.
 */
import { isServiceName } from '../../core/ids.js';
import cron from 'node-cron';
import { recordAudit } from '../store/audit.js';
import { inTransaction, type Db } from '../../core/pgTransaction.js';
import { JobDefinitionError, JobNotFoundError } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Types

export interface CommandTarget {
  kind: 'command';
  /** Program and arguments, run without a shell (no quoting or injection surprises). */
  argv: string[];
  cwd?: string;
  /** Added to the scheduler's own environment. */
  env?: Record<string, string>;
}

export interface ServiceFunctionTarget {
  kind: 'service_function';
  service: string;
  function: string;
  args?: Record<string, unknown>;
}

export type JobTarget = CommandTarget | ServiceFunctionTarget;

/**
 * What a tick does while a run of the job is still going (Kubernetes CronJob's
 * concurrencyPolicy without Replace): 'forbid' records the tick as a 'skipped' run naming the
 * run still going; 'allow' runs it beside the other.
 */
export type JobConcurrency = 'allow' | 'forbid';
export const JOB_CONCURRENCY: readonly JobConcurrency[] = ['allow', 'forbid'];

export interface JobInput {
  name: string;
  schedule: string;
  target: JobTarget;
  /** Omitted: a new job is enabled, a redefined one keeps its current state (an operator's disable survives a re-deploy). */
  enabled?: boolean;
  /** Default 60 000. */
  timeoutMs?: number;
  /** Default 'forbid', on a redefinition too (like timeoutMs: a definition is the whole job). */
  concurrency?: JobConcurrency;
}

/** 'skipped': a tick of a 'forbid' job that was not run because another run was still going. */
export type JobRunState = 'running' | 'succeeded' | 'failed' | 'skipped';

export interface JobRun {
  id: number;
  jobName: string;
  /** The tick (whole second) for scheduled runs; the database's now() for runs by hand. */
  scheduledFor: Date;
  /** The leader's epoch that claimed the tick; 0 for a run by hand (`hydra scheduler run-job`). */
  leaderEpoch: number;
  /** The node that ran it, or the actor for a run by hand. */
  nodeId: string | null;
  state: JobRunState;
  result: unknown;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export interface Job {
  name: string;
  schedule: string;
  target: JobTarget;
  enabled: boolean;
  timeoutMs: number;
  concurrency: JobConcurrency;
  createdAt: Date;
  updatedAt: Date;
  lastRun: JobRun | null;
}

export const DEFAULT_JOB_TIMEOUT_MS = 60_000;
export const DEFAULT_JOB_CONCURRENCY: JobConcurrency = 'forbid';

// ---------------------------------------------------------------------------------------------
// Validation: one function per field, each failing with the field and the bad value.

const JOB_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** The same rule as service spec names. */
/** It becomes a URL path segment: keep it to characters that need no escaping. */
const FUNCTION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The column is a PostgreSQL integer; Node timers also cap at 2^31 - 1 ms. */
const MAX_TIMEOUT_MS = 2_147_483_647;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !JOB_NAME.test(name)) {
    throw new JobDefinitionError('name', name, "1 to 63 characters of lower-case letters, digits and '. _ -', starting with a letter or digit");
  }
  return name;
}

function checkSchedule(schedule: unknown): string {
  const expected = 'a cron expression of 5 or 6 fields ([second] minute hour day-of-month month day-of-week), e.g. "*/5 * * * *"';
  if (typeof schedule !== 'string') throw new JobDefinitionError('schedule', schedule, expected);
  const check = cron.validateDetailed(schedule);
  if (!check.valid) {
    const why = check.errors.map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`)).join('; ');
    throw new JobDefinitionError('schedule', schedule, `${expected} (${why || 'not a valid cron expression'})`);
  }
  return schedule;
}

function checkTimeout(timeoutMs: unknown): number {
  if (timeoutMs === undefined) return DEFAULT_JOB_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new JobDefinitionError('timeoutMs', timeoutMs, `a positive integer number of milliseconds (at most ${MAX_TIMEOUT_MS})`);
  }
  return timeoutMs;
}

function checkConcurrency(concurrency: unknown): JobConcurrency {
  if (concurrency === undefined) return DEFAULT_JOB_CONCURRENCY;
  if (!JOB_CONCURRENCY.includes(concurrency as JobConcurrency)) {
    throw new JobDefinitionError('concurrency', concurrency, "'forbid' (a tick is skipped while a run is still going) or 'allow' (runs may overlap)");
  }
  return concurrency as JobConcurrency;
}

function checkEnabled(enabled: unknown): boolean | null {
  if (enabled === undefined) return null;
  if (typeof enabled !== 'boolean') throw new JobDefinitionError('enabled', enabled, 'true or false');
  return enabled;
}

function checkCommand(t: Record<string, unknown>): CommandTarget {
  const { argv, cwd, env } = t;
  if (!Array.isArray(argv) || argv.length === 0) throw new JobDefinitionError('target.argv', argv, 'a non-empty list: the program, then its arguments');
  argv.forEach((arg: unknown, i) => {
    if (typeof arg !== 'string' || (i === 0 && arg === '')) throw new JobDefinitionError(`target.argv[${i}]`, arg, i === 0 ? 'the program to run (a non-empty string)' : 'a string');
  });
  const target: CommandTarget = { kind: 'command', argv: argv as string[] };
  if (cwd !== undefined) {
    if (typeof cwd !== 'string' || cwd === '') throw new JobDefinitionError('target.cwd', cwd, 'a directory path');
    target.cwd = cwd;
  }
  if (env !== undefined) {
    if (!isPlainObject(env)) throw new JobDefinitionError('target.env', env, 'an object of environment variables');
    for (const [k, v] of Object.entries(env)) {
      if (!ENV_NAME.test(k)) throw new JobDefinitionError(`target.env.${k}`, k, 'an environment variable name (letters, digits, _; not starting with a digit)');
      if (typeof v !== 'string') throw new JobDefinitionError(`target.env.${k}`, v, 'a string value');
    }
    target.env = env as Record<string, string>;
  }
  return target;
}

function checkServiceFunction(t: Record<string, unknown>): ServiceFunctionTarget {
  const { service, args } = t;
  const fn = t.function;
  if (!isServiceName(service)) throw new JobDefinitionError('target.service', service, 'a service name');
  if (typeof fn !== 'string' || !FUNCTION_NAME.test(fn)) throw new JobDefinitionError('target.function', fn, "a function name of letters, digits and '_ . -'");
  if (args !== undefined && !isPlainObject(args)) throw new JobDefinitionError('target.args', args, 'an object (sent as the JSON body {args})');
  return { kind: 'service_function', service, function: fn, args: (args as Record<string, unknown> | undefined) ?? {} };
}

function checkTarget(target: unknown): JobTarget {
  if (!isPlainObject(target)) throw new JobDefinitionError('target', target, "{kind: 'command', argv} or {kind: 'service_function', service, function}");
  if (target.kind === 'command') return checkCommand(target);
  if (target.kind === 'service_function') return checkServiceFunction(target);
  throw new JobDefinitionError('target.kind', target.kind, "'command' or 'service_function'");
}

/** The stored form, per the jobs table comment: {argv, cwd?, env?} or {service, function, args}. */
function storedTarget(t: JobTarget): Record<string, unknown> {
  if (t.kind === 'command') return { argv: t.argv, ...(t.cwd !== undefined && { cwd: t.cwd }), ...(t.env !== undefined && { env: t.env }) };
  return { service: t.service, function: t.function, args: t.args ?? {} };
}

// ---------------------------------------------------------------------------------------------
// Rows

interface JobRow {
  name: string;
  schedule: string;
  target_kind: 'command' | 'service_function';
  target: Record<string, unknown>;
  enabled: boolean;
  timeout_ms: number;
  concurrency: JobConcurrency;
  created_at: Date;
  updated_at: Date;
  last_run: RunRow | null;
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

function toTarget(kind: JobRow['target_kind'], t: Record<string, unknown>): JobTarget {
  if (kind === 'command') {
    const target: CommandTarget = { kind, argv: t.argv as string[] };
    if (typeof t.cwd === 'string') target.cwd = t.cwd;
    if (isPlainObject(t.env)) target.env = t.env as Record<string, string>;
    return target;
  }
  return { kind, service: t.service as string, function: t.function as string, args: isPlainObject(t.args) ? t.args : {} };
}

function toJob(r: JobRow): Job {
  return {
    name: r.name,
    schedule: r.schedule,
    target: toTarget(r.target_kind, r.target),
    enabled: r.enabled,
    timeoutMs: r.timeout_ms,
    concurrency: r.concurrency,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastRun: r.last_run ? toJobRun(r.last_run) : null,
  };
}

// The latest run by scheduled_for: the UNIQUE (job_name, scheduled_for) index answers it
// without reading the history, which grows by 86 400 rows a day for a per-second job.
const SELECT_JOBS = `
  SELECT j.name, j.schedule, j.target_kind, j.target, j.enabled, j.timeout_ms, j.concurrency, j.created_at, j.updated_at,
         (SELECT row_to_json(r) FROM (
            SELECT ${RUN_COLUMNS} FROM job_runs WHERE job_name = j.name ORDER BY scheduled_for DESC, id DESC LIMIT 1
          ) r) AS last_run
  FROM jobs j`;

// ---------------------------------------------------------------------------------------------
// API

/** Creates or replaces a job (by name) after validating every field; audited as 'job.defined'. */
export async function defineJob(db: Db, input: JobInput, actor: string): Promise<Job> {
  if (!isPlainObject(input)) throw new JobDefinitionError('definition', input, 'an object {name, schedule, target, enabled?, timeoutMs?, concurrency?}');
  const name = checkName(input.name);
  const schedule = checkSchedule(input.schedule);
  const target = checkTarget(input.target);
  const enabled = checkEnabled(input.enabled);
  const timeoutMs = checkTimeout(input.timeoutMs);
  const concurrency = checkConcurrency(input.concurrency);
  await inTransaction(db, async (client) => {
    const r = await client.query<{ created: boolean; enabled: boolean }>(
      `INSERT INTO jobs AS j (name, schedule, target_kind, target, enabled, timeout_ms, concurrency)
       VALUES ($1, $2, $3, $4, COALESCE($5, true), $6, $7)
       ON CONFLICT (name) DO UPDATE SET
         schedule = EXCLUDED.schedule, target_kind = EXCLUDED.target_kind, target = EXCLUDED.target,
         enabled = COALESCE($5, j.enabled), timeout_ms = EXCLUDED.timeout_ms, concurrency = EXCLUDED.concurrency, updated_at = now()
       RETURNING (xmax = 0) AS created, enabled`,
      [name, schedule, target.kind, JSON.stringify(storedTarget(target)), enabled, timeoutMs, concurrency],
    );
    const row = r.rows[0]!;
    // Environment values may be secrets: the audit trail keeps only their names.
    const shown = target.kind === 'command' && target.env ? { ...storedTarget(target), env: Object.keys(target.env) } : storedTarget(target);
    await recordAudit(client, {
      actor,
      kind: 'job.defined',
      subject: name,
      detail: { created: row.created, schedule, targetKind: target.kind, target: shown, enabled: row.enabled, timeoutMs, concurrency },
    });
  });
  return (await getJob(db, name))!;
}

export async function getJob(db: Db, name: string): Promise<Job | null> {
  const r = await db.query<JobRow>(`${SELECT_JOBS} WHERE j.name = $1`, [name]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** Every job, by name, each with its latest run. */
export async function listJobs(db: Db): Promise<Job[]> {
  const r = await db.query<JobRow>(`${SELECT_JOBS} ORDER BY j.name`);
  return r.rows.map(toJob);
}

/** Deletes a job and its run history; JobNotFoundError when there is none. Audited as 'job.removed'. */
export async function removeJob(db: Db, name: string, actor: string): Promise<void> {
  await inTransaction(db, async (client) => {
    const r = await client.query('DELETE FROM jobs WHERE name = $1', [name]);
    if (r.rowCount !== 1) throw new JobNotFoundError(name);
    await recordAudit(client, { actor, kind: 'job.removed', subject: name });
  });
}

/** Enables or disables a job (the leader picks it up at its next reload); audited. */
export async function setJobEnabled(db: Db, name: string, enabled: boolean, actor: string): Promise<Job> {
  await inTransaction(db, async (client) => {
    const old = await client.query<{ enabled: boolean }>('SELECT enabled FROM jobs WHERE name = $1 FOR UPDATE', [name]);
    if (!old.rows[0]) throw new JobNotFoundError(name);
    await client.query('UPDATE jobs SET enabled = $2, updated_at = now() WHERE name = $1', [name, enabled]);
    await recordAudit(client, { actor, kind: enabled ? 'job.enabled' : 'job.disabled', subject: name, detail: { previous: old.rows[0].enabled } });
  });
  return (await getJob(db, name))!;
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
