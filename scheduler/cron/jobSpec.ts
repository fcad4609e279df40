/**
 * What a cron job is (its definition, target and run types) and the check of every field of a
 * definition, so a bad cron expression or an empty argv is refused at the CLI with the field and
 * value named, instead of surfacing later as a task that never fires or a run that fails on
 * every tick on the leader. No SQL here: jobs.ts stores definitions, runRecords.ts runs.
 */
import cron from 'node-cron';
import { isServiceName } from '../../core/ids.js';
import { JobDefinitionError } from './errors.js';

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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
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
export function storedTarget(t: JobTarget): Record<string, unknown> {
  if (t.kind === 'command') return { argv: t.argv, ...(t.cwd !== undefined && { cwd: t.cwd }), ...(t.env !== undefined && { env: t.env }) };
  return { service: t.service, function: t.function, args: t.args ?? {} };
}

/** A definition after checkJobInput: every field valid, the optional ones resolved or null. */
export interface CheckedJob {
  name: string;
  schedule: string;
  target: JobTarget;
  /** null: keep the stored value (true for a new job). */
  enabled: boolean | null;
  timeoutMs: number;
  concurrency: JobConcurrency;
}

/** Checks a definition field by field; JobDefinitionError naming the first bad one. */
export function checkJobInput(input: unknown): CheckedJob {
  if (!isPlainObject(input)) throw new JobDefinitionError('definition', input, 'an object {name, schedule, target, enabled?, timeoutMs?, concurrency?}');
  return {
    name: checkName(input.name),
    schedule: checkSchedule(input.schedule),
    target: checkTarget(input.target),
    enabled: checkEnabled(input.enabled),
    timeoutMs: checkTimeout(input.timeoutMs),
    concurrency: checkConcurrency(input.concurrency),
  };
}

/** The target as the audit trail keeps it: environment values may be secrets, so only their names. */
export function auditedTarget(t: JobTarget): Record<string, unknown> {
  return t.kind === 'command' && t.env ? { ...storedTarget(t), env: Object.keys(t.env) } : storedTarget(t);
}

export function targetFromStored(kind: JobTarget['kind'], t: Record<string, unknown>): JobTarget {
  if (kind === 'command') {
    const target: CommandTarget = { kind, argv: t.argv as string[] };
    if (typeof t.cwd === 'string') target.cwd = t.cwd;
    if (isPlainObject(t.env)) target.env = t.env as Record<string, string>;
    return target;
  }
  return { kind, service: t.service as string, function: t.function as string, args: isPlainObject(t.args) ? t.args : {} };
}
