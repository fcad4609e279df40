/**
 * `hydra scheduler jobs | define-job | remove-job | run-job | job-runs`: the cron jobs the
 * leader runs (scheduler/cron/). A definition is checked field by field before it is stored; a
 * bad one (cron expression, argv, function name, concurrency…) is a usage error naming the
 * option (exit 2). run-job runs the job here and now, recorded like a scheduled run, and exits 1
 * when it failed. job-runs shows a job's history, ticks skipped by its concurrency included.
 */
import { EXIT_FAILURE, EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { createLogger } from '../../core/log.js';
import { runJobNow } from '../cron/cronRunner.js';
import { JobDefinitionError, JobNotFoundError } from '../cron/errors.js';
import { defineJob, getJob, listJobs, removeJob } from '../cron/jobs.js';
import type { Job, JobConcurrency, JobRun, JobTarget } from '../cron/jobSpec.js';
import { listRuns } from '../cron/runRecords.js';
import { withDatabase } from './database.js';
import { cliActor, joinNegativeValues, jsonValue, wholeNumber } from './options.js';
import { formatTime, orDash, plural, print, renderTable } from '../../core/table.js';

/** An argv as a shell would need it typed: plain words as is, anything else JSON-quoted. */
function argvText(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function targetText(t: JobTarget): string {
  return t.kind === 'command' ? argvText(t.argv) : `${t.service}.${t.function}`;
}

/** Environment values may be credentials: the CLI shows their names only (as the audit log does). */
function shownTarget(t: JobTarget): unknown {
  return t.kind === 'command' && t.env ? { ...t, env: Object.keys(t.env).sort() } : t;
}

function jobJson(j: Job) {
  return { ...j, target: shownTarget(j.target) };
}

function durationMs(run: JobRun): number | null {
  return run.finishedAt === null ? null : run.finishedAt.getTime() - run.startedAt.getTime();
}

const jobs: Command = {
  path: ['scheduler', 'jobs'],
  summary: 'list the cron jobs: schedule, target, enabled, concurrency, last run',
  usage: 'hydra scheduler jobs [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const list = await withDatabase((db) => listJobs(db));
    const enabled = list.filter((j) => j.enabled).length;
    const failed = list.filter((j) => j.lastRun?.state === 'failed').length;
    const summary =
      list.length === 0
        ? "0 jobs: define one with 'hydra scheduler define-job <name> --cron <expr> --command <argv json>'"
        : `${plural(list.length, 'job')}: ${enabled} enabled, ${list.length - enabled} disabled; ${failed} whose last run failed`;
    const table = renderTable(
      ['NAME', 'SCHEDULE', 'TARGET', 'ENABLED', 'CONCURRENCY', 'LAST RUN', 'LAST ERROR'],
      list.map((j) => [
        j.name,
        j.schedule,
        targetText(j.target),
        j.enabled ? 'yes' : 'no',
        j.concurrency,
        j.lastRun ? `${j.lastRun.state} ${formatTime(j.lastRun.startedAt)}` : 'never',
        orDash(j.lastRun?.error),
      ]),
    );
    print(Boolean(p.values.json), { jobs: list.map(jobJson) }, list.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

/** The job field a JobDefinitionError names → the option people typed. */
function optionOf(field: string): string {
  if (field === 'name') return '<name>';
  if (field === 'schedule') return '--cron';
  if (field === 'timeoutMs') return '--timeout';
  if (field === 'concurrency') return '--concurrency';
  if (field.startsWith('target.argv')) return '--command';
  if (field === 'target.args') return '--args';
  if (field.startsWith('target.service') || field.startsWith('target.function')) return '--function';
  return field;
}

interface DefineValues {
  cron?: string;
  command?: string;
  function?: string;
  args?: string;
  timeout?: string;
  concurrency?: string;
  disabled?: boolean;
}

function targetOf(v: DefineValues): JobTarget {
  if ((v.command === undefined) === (v.function === undefined)) throw new UsageError('give exactly one of --command ARGV_JSON and --function SERVICE.FUNCTION');
  if (v.command !== undefined) {
    if (v.args !== undefined) throw new UsageError('--args goes with --function; put a command\'s arguments in its --command argv');
    const argv = jsonValue('--command', v.command, 'a JSON array: the program, then its arguments, e.g. ["pg_dump","-f","/backup/x.sql"]');
    if (!Array.isArray(argv)) throw new UsageError(`--command: '${v.command}' is invalid; expected a JSON array: the program, then its arguments, e.g. ["pg_dump","-f","/backup/x.sql"]`);
    return { kind: 'command', argv: argv as string[] };
  }
  // Service names may contain dots; function names are split off at the last one.
  const dot = v.function!.lastIndexOf('.');
  if (dot <= 0 || dot === v.function!.length - 1) throw new UsageError(`--function: '${v.function}' is invalid; expected SERVICE.FUNCTION, e.g. report.compact`);
  const args = v.args === undefined ? {} : jsonValue('--args', v.args, 'a JSON object, e.g. {"days":30}');
  return { kind: 'service_function', service: v.function!.slice(0, dot), function: v.function!.slice(dot + 1), args: args as Record<string, unknown> };
}

const defineJobCommand: Command = {
  path: ['scheduler', 'define-job'],
  summary: 'create or replace a cron job (a command, or a function of a running service)',
  usage:
    'hydra scheduler define-job <name> --cron EXPR (--command ARGV_JSON | --function SERVICE.FUNCTION [--args JSON]) [--timeout MS] [--concurrency forbid|allow] [--disabled] [--json]',
  async run(args) {
    const p = parseCommandArgs(
      joinNegativeValues(args, ['--timeout']),
      { cron: { type: 'string' }, command: { type: 'string' }, function: { type: 'string' }, args: { type: 'string' }, timeout: { type: 'string' }, concurrency: { type: 'string' }, disabled: { type: 'boolean' } },
      ['<name>'],
    );
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const v = p.values as DefineValues;
    const name = p.positionals[0]!;
    if (v.cron === undefined) throw new UsageError('missing --cron EXPR, e.g. --cron "0 3 * * *"');
    const target = targetOf(v);
    const timeoutMs = v.timeout === undefined ? undefined : wholeNumber('--timeout', v.timeout, 1);
    const { job, created } = await withDatabase(async (db) => {
      const before = await getJob(db, name);
      try {
        const job = await defineJob(
          db,
          {
            name,
            schedule: v.cron!,
            target,
            ...(v.disabled ? { enabled: false } : {}),
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            // Passed as typed: defineJob refuses anything but allow/forbid, naming the value.
            ...(v.concurrency !== undefined ? { concurrency: v.concurrency as JobConcurrency } : {}),
          },
          cliActor(),
        );
        return { job, created: before === null };
      } catch (err) {
        // Every field comes from an option: a refused one is a bad argument.
        if (err instanceof JobDefinitionError) throw new UsageError(`${optionOf(err.field)}: ${err.message}`);
        throw err;
      }
    });
    const what = job.target.kind === 'command' ? `runs ${targetText(job.target)}` : `calls ${targetText(job.target)}`;
    const human = `job ${job.name} ${created ? 'defined' : 'redefined'}: ${what} on '${job.schedule}', ${job.enabled ? 'enabled' : 'disabled'}, timeout ${job.timeoutMs} ms, concurrency ${job.concurrency}; the leader picks it up within seconds`;
    print(Boolean(p.values.json), { job: jobJson(job), created }, human);
    return EXIT_OK;
  },
};

const removeJobCommand: Command = {
  path: ['scheduler', 'remove-job'],
  summary: 'delete a cron job and its run history',
  usage: 'hydra scheduler remove-job <name> [--json]',
  async run(args) {
    const p = parseCommandArgs(args, {}, ['<name>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const name = p.positionals[0]!;
    await withDatabase((db) => removeJob(db, name, cliActor()));
    print(Boolean(p.values.json), { removed: name }, `job ${name} removed, with its run history; the leader stops scheduling it within seconds`);
    return EXIT_OK;
  },
};

function resultText(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return result === null || result === undefined ? [] : [`result: ${JSON.stringify(result)}`];
  const r = result as Record<string, unknown>;
  if ('exitCode' in r) {
    const out: string[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = typeof r[stream] === 'string' ? (r[stream] as string).trimEnd() : '';
      if (text) out.push(`${stream}:`, text);
    }
    return out;
  }
  if ('status' in r) return [`answer ${String(r.status)} from node ${String(r.node)}: ${JSON.stringify(r.body)}`];
  return [`result: ${JSON.stringify(result)}`];
}

const runJobCommand: Command = {
  path: ['scheduler', 'run-job'],
  summary: 'run a cron job once, now, from this machine (recorded like a scheduled run)',
  usage: 'hydra scheduler run-job <name> [--json]',
  async run(args) {
    const p = parseCommandArgs(args, {}, ['<name>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const name = p.positionals[0]!;
    const actor = cliActor();
    // The run is printed below; the runner's JSON log lines would only get in the way of it.
    const quiet = createLogger({ component: 'scheduler.cli', actor }, { write: () => undefined });
    const run = await withDatabase((db) => runJobNow(db, name, actor, quiet));
    const ms = durationMs(run);
    const took = ms === null ? '' : ` in ${ms} ms`;
    const head =
      run.state === 'failed' ? `job ${name} run ${run.id} failed${took}: ${run.error ?? 'no error recorded'}` : `job ${name} run ${run.id} ${run.state}${took}`;
    print(Boolean(p.values.json), { run: { ...run, durationMs: ms } }, [head, ...resultText(run.result)].join('\n'));
    return run.state === 'succeeded' ? EXIT_OK : EXIT_FAILURE;
  },
};

const DEFAULT_RUNS_LIMIT = 20;

/** Each state and how many of the shown runs are in it, in a fixed order: `3 succeeded, 5 skipped`. */
function stateCounts(runs: JobRun[]): string {
  const order = ['running', 'succeeded', 'failed', 'skipped'] as const;
  return order
    .map((state) => [state, runs.filter((r) => r.state === state).length] as const)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
}

const jobRunsCommand: Command = {
  path: ['scheduler', 'job-runs'],
  summary: "a cron job's run history, newest tick first: state, node, times, error (skipped ticks too)",
  usage: 'hydra scheduler job-runs <name> [--limit N] [--json]',
  async run(args) {
    const p = parseCommandArgs(joinNegativeValues(args, ['--limit']), { limit: { type: 'string' } }, ['<name>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const name = p.positionals[0]!;
    const limit = p.values.limit === undefined ? DEFAULT_RUNS_LIMIT : wholeNumber('--limit', p.values.limit as string, 1);
    const runs = await withDatabase(async (db) => {
      // An unknown job has no history either: say it is unknown rather than print "0 runs".
      if (!(await getJob(db, name))) throw new JobNotFoundError(name);
      return listRuns(db, name, limit);
    });
    const table = renderTable(
      ['RUN', 'TICK', 'STATE', 'NODE', 'EPOCH', 'STARTED', 'TOOK', 'ERROR'],
      runs.map((r) => {
        const ms = durationMs(r);
        return [String(r.id), formatTime(r.scheduledFor), r.state, orDash(r.nodeId), String(r.leaderEpoch), formatTime(r.startedAt), ms === null ? '-' : `${ms} ms`, orDash(r.error)];
      }),
    );
    const more = runs.length === limit ? '; older ones with a higher --limit' : '';
    const summary = runs.length === 0 ? `0 runs of job ${name}` : `${plural(runs.length, 'run')} of job ${name}, newest tick first: ${stateCounts(runs)}${more}`;
    print(Boolean(p.values.json), { runs: runs.map((r) => ({ ...r, durationMs: durationMs(r) })) }, runs.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

export const jobCommands: Command[] = [jobs, defineJobCommand, removeJobCommand, runJobCommand, jobRunsCommand];
