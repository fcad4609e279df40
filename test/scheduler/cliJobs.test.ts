/** `hydra scheduler jobs | define-job | remove-job | run-job | job-runs`, run as a user would (the built bin/hydra). */
import t from 'tap';
import { claimTick, finishRun } from '../../scheduler/cron/runRecords.js';
import { tryAcquire } from '../../scheduler/lease.js';
import { cliDatabase, lines } from './schedulerCli.js';

const TIME = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g;
const node = (code: string) => JSON.stringify([process.execPath, '-e', code]);

t.test('define-job stores a command or a service function job; jobs lists them with target, enabled and last run', async (t) => {
  const db = await cliDatabase(t);
  const [nightly, compact] = await Promise.all([
    db.scheduler('define-job', 'nightly', '--cron', '0 3 * * *', '--command', '["pg_dump","-f","/backup/x y.sql"]'),
    db.json<{ job: Record<string, unknown>; created: boolean }>('define-job', 'compact', '--cron', '*/5 * * * *', '--function', 'report.v2.compact', '--args', '{"days":30}', '--timeout', '5000', '--disabled'),
  ]);
  t.equal(nightly.code, 0, nightly.stderr);
  t.equal(nightly.stdout, `job nightly defined: runs pg_dump -f "/backup/x y.sql" on '0 3 * * *', enabled, timeout 60000 ms, concurrency forbid; the leader picks it up within seconds\n`);
  t.match(compact, { created: true, job: { name: 'compact', schedule: '*/5 * * * *', target: { kind: 'service_function', service: 'report.v2', function: 'compact', args: { days: 30 } }, enabled: false, timeoutMs: 5000, concurrency: 'forbid', lastRun: null } });

  const redefined = await db.scheduler('define-job', 'compact', '--cron', '0 * * * *', '--function', 'report.v2.compact', '--concurrency', 'allow');
  t.equal(redefined.stdout, "job compact redefined: calls report.v2.compact on '0 * * * *', disabled, timeout 60000 ms, concurrency allow; the leader picks it up within seconds\n", 'a redefinition keeps the job disabled');

  await db.scheduler('run-job', 'nightly'); // pg_dump is not installed here, or fails without a database: either way a failed run
  const [human, json] = await Promise.all([db.scheduler('jobs'), db.json<{ jobs: Array<Record<string, unknown>> }>('jobs')]);
  t.equal(human.code, 0, human.stderr);
  const shown = lines(human.stdout.replace(TIME, 'T'));
  t.same(shown.slice(0, 2), ['NAME | SCHEDULE | TARGET | ENABLED | CONCURRENCY | LAST RUN | LAST ERROR', 'compact | 0 * * * * | report.v2.compact | no | allow | never | -']);
  t.match(shown[2], /^nightly \| 0 3 \* \* \* \| pg_dump -f "\/backup\/x y\.sql" \| yes \| forbid \| failed T \| command pg_dump /);
  t.equal(shown[3], '2 jobs: 1 enabled, 1 disabled; 1 whose last run failed');
  t.match(json.jobs[0], { name: 'compact', concurrency: 'allow' });
  t.match(json.jobs[1], { name: 'nightly', target: { kind: 'command', argv: ['pg_dump', '-f', '/backup/x y.sql'] }, enabled: true, timeoutMs: 60000, concurrency: 'forbid', lastRun: { state: 'failed', nodeId: /^cli@/, leaderEpoch: 0 } });
});

t.test('run-job runs the job now and prints the run; a failed run exits 1', async (t) => {
  const db = await cliDatabase(t);
  await Promise.all([
    db.scheduler('define-job', 'hello', '--cron', '0 0 1 1 *', '--command', node('console.log("hi from " + process.env.HYDRA_JOB_NAME)')),
    db.scheduler('define-job', 'broken', '--cron', '0 0 1 1 *', '--command', node('console.error("disk full"); process.exit(3)'), '--disabled'),
  ]);
  const [ok, failed, failedJson, ghost] = await Promise.all([
    db.scheduler('run-job', 'hello'),
    db.scheduler('run-job', 'broken'),
    db.scheduler('run-job', 'broken', '--json'),
    db.scheduler('run-job', 'ghost'),
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^job hello run \d+ succeeded in \d+ ms\nstdout:\nhi from hello\n$/);
  t.equal(failed.code, 1, 'a failed run is exit 1 (a disabled job runs by hand all the same)');
  t.match(failed.stdout, /^job broken run \d+ failed in \d+ ms: command \S+ failed with exit code 3: disk full\n$/);
  t.equal(failedJson.code, 1);
  t.match(JSON.parse(failedJson.stdout), { run: { jobName: 'broken', state: 'failed', error: /exit code 3/, leaderEpoch: 0, nodeId: /^cli@/, durationMs: Number } });
  t.equal(ghost.code, 1);
  t.equal(ghost.stderr, "hydra scheduler run-job: unknown job 'ghost'; see 'hydra scheduler jobs' for the defined jobs\n");
  const runs = await db.pool.query("SELECT job_name, state FROM job_runs ORDER BY job_name, id");
  t.same(runs.rows, [{ job_name: 'broken', state: 'failed' }, { job_name: 'broken', state: 'failed' }, { job_name: 'hello', state: 'succeeded' }], 'each run is recorded');
});

t.test('remove-job deletes a job; an unknown one is exit 1', async (t) => {
  const db = await cliDatabase(t);
  await db.scheduler('define-job', 'nightly', '--cron', '0 3 * * *', '--command', '["true"]');
  const removed = await db.scheduler('remove-job', 'nightly');
  t.equal(removed.code, 0, removed.stderr);
  t.equal(removed.stdout, 'job nightly removed, with its run history; the leader stops scheduling it within seconds\n');
  const [again, json] = await Promise.all([db.scheduler('remove-job', 'nightly'), db.scheduler('remove-job', 'other', '--json')]);
  t.equal(again.code, 1);
  t.equal(again.stderr, "hydra scheduler remove-job: unknown job 'nightly'; see 'hydra scheduler jobs' for the defined jobs\n");
  t.equal(json.code, 1);
  t.equal(json.stdout, '');
});

t.test('define-job: a bad cron expression, target, timeout, concurrency or name is exit 2 naming the option; nothing is stored', async (t) => {
  const db = await cliDatabase(t);
  const define = (...args: string[]) => db.scheduler('define-job', ...args);
  const runs = await Promise.all([
    define('nightly', '--cron', 'every day', '--command', '["true"]'),
    define('nightly', '--cron', '0 3 * * *'),
    define('nightly', '--cron', '0 3 * * *', '--command', '["true"]', '--function', 'report.compact'),
    define('nightly', '--cron', '0 3 * * *', '--command', 'true'),
    define('nightly', '--cron', '0 3 * * *', '--command', '[]'),
    define('nightly', '--cron', '0 3 * * *', '--function', 'compact'),
    define('nightly', '--cron', '0 3 * * *', '--command', '["true"]', '--args', '{}'),
    define('nightly', '--cron', '0 3 * * *', '--command', '["true"]', '--timeout', '0'),
    define('Nightly!', '--cron', '0 3 * * *', '--command', '["true"]'),
    define('nightly', '--command', '["true"]'),
    define('nightly', '--cron', '0 3 * * *', '--command', '["true"]', '--concurrency', 'replace'),
    define('nightly', '--cron', '0 3 * * *', '--command', '["true"]', '--concurrency'),
  ]);
  t.same(runs.map((r) => r.code), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
  const first = (i: number) => runs[i]!.stderr.split('\n')[0];
  t.match(first(0), /^hydra scheduler define-job: --cron: job schedule: "every day" is invalid; expected a cron expression of 5 or 6 fields/);
  t.equal(first(1), 'hydra scheduler define-job: give exactly one of --command ARGV_JSON and --function SERVICE.FUNCTION');
  t.equal(first(2), 'hydra scheduler define-job: give exactly one of --command ARGV_JSON and --function SERVICE.FUNCTION');
  t.match(first(3), /^hydra scheduler define-job: --command: 'true' is invalid; expected a JSON array: the program, then its arguments/);
  t.equal(first(4), 'hydra scheduler define-job: --command: job target.argv: [] is invalid; expected a non-empty list: the program, then its arguments; nothing was stored');
  t.equal(first(5), "hydra scheduler define-job: --function: 'compact' is invalid; expected SERVICE.FUNCTION, e.g. report.compact");
  t.equal(first(6), "hydra scheduler define-job: --args goes with --function; put a command's arguments in its --command argv");
  t.equal(first(7), "hydra scheduler define-job: --timeout: '0' is invalid; expected a whole number of at least 1");
  t.match(first(8), /^hydra scheduler define-job: <name>: job name: "Nightly!" is invalid; expected 1 to 63 characters/);
  t.equal(first(9), 'hydra scheduler define-job: missing --cron EXPR, e.g. --cron "0 3 * * *"');
  t.equal(
    first(10),
    `hydra scheduler define-job: --concurrency: job concurrency: "replace" is invalid; expected 'forbid' (a tick is skipped while a run is still going) or 'allow' (runs may overlap); nothing was stored`,
  );
  t.match(first(11), /^hydra scheduler define-job: Option '--concurrency <value>' argument missing/);
  t.ok(runs[0]!.stderr.includes('usage: hydra scheduler define-job <name> --cron EXPR'), 'with the usage');
  const jobs = await db.pool.query('SELECT count(*)::int AS n FROM jobs');
  t.equal(jobs.rows[0].n, 0);
});

t.test('job-runs: the history newest tick first, skipped ticks naming the run still going; an unknown job is exit 1', async (t) => {
  const db = await cliDatabase(t);
  const [forbid, allow] = await Promise.all([
    db.json<{ job: { concurrency: string } }>('define-job', 'slow', '--cron', '* * * * * *', '--command', '["true"]', '--concurrency', 'forbid'),
    db.json<{ job: { concurrency: string } }>('define-job', 'fast', '--cron', '* * * * * *', '--command', '["true"]', '--concurrency', 'allow'),
  ]);
  t.equal(forbid.job.concurrency, 'forbid');
  t.equal(allow.job.concurrency, 'allow');
  // The leader's claims of four ticks, as its runner makes them: the first runs, the two
  // after it are skipped while it goes, the fourth runs once it ended.
  const lease = (await tryAcquire(db.pool, 'scheduler', 'n1', 60_000))!;
  const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 3, 0, s));
  const first = (await claimTick(db.pool, lease, 'slow', at(1), 'n1'))!;
  const skips = [await claimTick(db.pool, lease, 'slow', at(2), 'n1'), await claimTick(db.pool, lease, 'slow', at(3), 'n1')];
  t.match(skips, [{ state: 'skipped' }, { state: 'skipped' }]);
  await finishRun(db.pool, first.id, { state: 'succeeded', result: { exitCode: 0, stdout: '', stderr: '' } });
  t.match(await claimTick(db.pool, lease, 'slow', at(4), 'n1'), { state: 'running' });

  const [human, json, limited, ghost, badLimit, jobs] = await Promise.all([
    db.scheduler('job-runs', 'slow'),
    db.json<{ runs: Array<Record<string, unknown>> }>('job-runs', 'slow'),
    db.scheduler('job-runs', 'slow', '--limit', '2'),
    db.scheduler('job-runs', 'ghost'),
    db.scheduler('job-runs', 'slow', '--limit', '0'),
    db.scheduler('jobs'),
  ]);
  t.equal(human.code, 0, human.stderr);
  // The ticks are fixed (2030); when each row was written is not: S.
  const shown = lines(human.stdout.replace(/20[0-2]\d-\d\d-\d\d \d\d:\d\d:\d\dZ/g, 'S'));
  t.equal(shown[0], 'RUN | TICK | STATE | NODE | EPOCH | STARTED | TOOK | ERROR');
  t.match(shown.slice(1, 5), [
    /^\d+ \| 2030-01-01 03:00:04Z \| running \| n1 \| \d+ \| S \| - \| -$/,
    new RegExp(`^\\d+ \\| 2030-01-01 03:00:03Z \\| skipped \\| n1 \\| \\d+ \\| S \\| 0 ms \\| not run: run ${first.id} \\(tick 2030-01-01T03:00:01\\.000Z, on n1, started \\S+\\) was still running and the job's concurrency is 'forbid'$`),
    /^\d+ \| 2030-01-01 03:00:02Z \| skipped \| n1 \| /,
    /^\d+ \| 2030-01-01 03:00:01Z \| succeeded \| n1 \| \d+ \| S \| \d+ ms \| -$/,
  ]);
  t.equal(shown[5], '4 runs of job slow, newest tick first: 1 running, 1 succeeded, 2 skipped');
  t.match(json.runs, [
    { state: 'running', durationMs: null },
    { state: 'skipped', result: { stillRunning: { id: first.id, nodeId: 'n1' } }, error: /^not run: run \d+ /, durationMs: 0 },
    { state: 'skipped' },
    { id: first.id, state: 'succeeded', result: { exitCode: 0 } },
  ]);
  t.equal(lines(limited.stdout).at(-1), '2 runs of job slow, newest tick first: 1 running, 1 skipped; older ones with a higher --limit');
  t.equal(ghost.code, 1);
  t.equal(ghost.stderr, "hydra scheduler job-runs: unknown job 'ghost'; see 'hydra scheduler jobs' for the defined jobs\n");
  t.equal(badLimit.code, 2);
  t.match(badLimit.stderr, /^hydra scheduler job-runs: --limit: '0' is invalid; expected a whole number of at least 1\n/);
  t.match(lines(jobs.stdout.replace(TIME, 'T')).slice(1, 3), ['fast | * * * * * * | true | yes | allow | never | -', 'slow | * * * * * * | true | yes | forbid | running T | -']);
});
