/**
 * A cron job's concurrency policy: 'forbid' never has two runs of a job going and records each
 * tick it did not run as 'skipped', naming the run still going; 'allow' lets runs overlap. The
 * check and the claim are one decision, so racing claims cannot both run. A run left 'running'
 * past its timeout plus the grace, or by a leader that died, blocks nothing. Jobs that exist
 * before the migration keep overlapping ('allow'); new ones default to 'forbid'.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t, { type Test } from 'tap';
import { CronRunner } from '../../scheduler/cron/cronRunner.js';
import { defineJob, getJob } from '../../scheduler/cron/jobs.js';
import type { JobConcurrency, JobRun } from '../../scheduler/cron/jobSpec.js';
import { claimTick, finishRun, listRuns, STALE_RUN_GRACE_MS, type TickClaim } from '../../scheduler/cron/runRecords.js';
import { release, tryAcquire } from '../../scheduler/lease.js';
import { loadMigrations, migrate } from '../../scheduler/store/migrate.js';
import { createLogger } from '../../core/log.js';
import { testDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const node = process.execPath;
const SKIPPED = /^not run: run (\d+) \(tick \S+, on n1, started \S+\) was still running and the job's concurrency is 'forbid'$/;

/** When each execution of the command started and ended (ms since the epoch), by run id. */
interface Span {
  runId: number;
  start: number;
  end: number;
}

/**
 * A job every second whose command takes ~2.5 s, run by a CronRunner holding a real lease, until
 * `done` says so; then the runner stops (waiting for the runs in flight). Returns the recorded
 * runs (oldest tick first), the executions as the command saw them, and the most runs the
 * database ever showed 'running' at once (polled every 50 ms).
 */
async function runSlowJob(t: Test, concurrency: JobConcurrency, done: (rows: JobRun[], maxRunning: number) => boolean) {
  const { pool, url } = await testDatabase(t);
  await migrate(pool);
  const dir = mkdtempSync(join(tmpdir(), 'hydra-cron-concurrency-'));
  const file = join(dir, 'spans.log');
  const script =
    "const fs = require('node:fs'), f = process.argv[1], id = process.env.HYDRA_JOB_RUN_ID;" +
    "fs.appendFileSync(f, 'start ' + id + ' ' + Date.now() + '\\n');" +
    "setTimeout(() => fs.appendFileSync(f, 'end ' + id + ' ' + Date.now() + '\\n'), 2500);";
  await defineJob(pool, { name: 'slow', schedule: '* * * * * *', target: { kind: 'command', argv: [node, '-e', script, file] }, timeoutMs: 10_000, concurrency }, 'test');
  const lease = (await tryAcquire(pool, 'scheduler', 'n1', 60_000))!;
  const logs: string[] = [];
  // A pool of its own, as the scheduler process would have.
  const db = new pg.Pool({ connectionString: url, max: 5 });
  const runner = new CronRunner({ db, nodeId: 'n1', fence: () => lease, reloadEveryMs: 60_000, log: createLogger({ node: 'n1' }, { write: (line) => logs.push(line) }) });
  t.teardown(async () => {
    await runner.stop();
    await db.end();
    rmSync(dir, { recursive: true, force: true });
    // On a loaded machine a tick can slip: the runner's log says which.
    if (!t.passing()) console.error(logs.join(''));
  });

  let maxRunning = 0;
  runner.start();
  await waitFor(
    `the runs to have gone on long enough (${concurrency})`,
    async () => {
      const running = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM job_runs WHERE state = 'running'");
      maxRunning = Math.max(maxRunning, running.rows[0]!.n);
      return done((await listRuns(pool, 'slow', 1_000)).reverse(), maxRunning);
    },
    20_000,
    50,
  );
  await runner.stop();

  const rows = (await listRuns(pool, 'slow', 1_000)).reverse();
  const starts = new Map<number, number>();
  const spans: Span[] = [];
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const [what, id, at] = line.split(' ');
    if (what === 'start') starts.set(Number(id), Number(at));
    else spans.push({ runId: Number(id), start: starts.get(Number(id))!, end: Number(at) });
  }
  spans.sort((a, b) => a.start - b.start);
  return { rows, spans, maxRunning, startedRuns: starts.size };
}

t.test('forbid: a run that outlasts its interval is never joined by another; the ticks in between are recorded as skipped', async (t) => {
  const { rows, spans, maxRunning, startedRuns } = await runSlowJob(
    t,
    'forbid',
    (rows) => rows.filter((r) => r.state === 'succeeded').length >= 2 && rows.filter((r) => r.state === 'skipped').length >= 3,
  );
  t.equal(maxRunning, 1, 'never two runs in state running at once');
  const ran = rows.filter((r) => r.state !== 'skipped');
  t.same(ran.map((r) => r.state), ran.map(() => 'succeeded'), 'every run that was not skipped ran and succeeded');
  t.equal(startedRuns, ran.length, 'one execution per run; none for a skipped tick');
  t.equal(spans.length, ran.length, 'each execution ended');
  t.same(spans.filter((s, i) => i > 0 && s.start < spans[i - 1]!.end), [], 'no execution started before the one before it ended');

  const skipped = rows.filter((r) => r.state === 'skipped');
  t.ok(skipped.length >= 3, `${skipped.length} skipped ticks`);
  for (const s of skipped) {
    const blocker = rows.find((r) => r.id === Number(SKIPPED.exec(s.error ?? '')?.[1]));
    t.ok(blocker, `skipped tick ${s.scheduledFor.toISOString()} names the run still going: ${s.error}`);
    if (!blocker) continue;
    t.match(s, { leaderEpoch: Number, nodeId: 'n1', result: { stillRunning: { id: blocker.id, nodeId: 'n1' } } }, 'and says so in its result');
    t.ok(s.finishedAt && s.finishedAt.getTime() === s.startedAt.getTime(), 'a skipped tick is final when recorded');
    t.ok(
      blocker.scheduledFor < s.scheduledFor && blocker.startedAt <= s.startedAt && blocker.finishedAt! >= s.startedAt,
      `run ${blocker.id} (tick ${blocker.scheduledFor.toISOString()}) was indeed going when tick ${s.scheduledFor.toISOString()} was skipped`,
    );
  }
  const ticks = rows.map((r) => r.scheduledFor.getTime());
  t.same(ticks.slice(1).map((tk, i) => tk - ticks[i]!), ticks.slice(1).map(() => 1_000), 'every tick has its row, run or skipped: the history has no holes');
});

t.test('allow: a run that outlasts its interval overlaps the next ones, each tick its own run', async (t) => {
  const { rows, spans, maxRunning } = await runSlowJob(t, 'allow', (rows, maxRunning) => maxRunning >= 2 && rows.filter((r) => r.state === 'succeeded').length >= 2);
  t.ok(maxRunning >= 2, `${maxRunning} runs in state running at once`);
  t.same(rows.filter((r) => r.state !== 'succeeded'), [], 'no tick skipped; every run succeeded');
  t.ok(spans.some((s, i) => i > 0 && s.start < spans[i - 1]!.end), 'executions overlapped');
  t.equal(spans.length, rows.length, 'one execution per tick');
});

t.test('racing claims of two ticks of a forbid job: one runs, the other is skipped naming it', async (t) => {
  const { pool, url } = await testDatabase(t);
  await migrate(pool);
  await defineJob(pool, { name: 'race', schedule: '* * * * * *', target: { kind: 'command', argv: [node, '-e', '0'] } }, 'test');
  const lease = (await tryAcquire(pool, 'scheduler', 'n1', 60_000))!;
  const tick = (s: number) => new Date(Date.UTC(2030, 0, 1, 3, 0, s));

  // Hold the job's row so both claims are in flight together, then let them go at once: a
  // check that does not queue on the job (a plain INSERT … WHERE NOT EXISTS) would have both
  // see no run going and both run.
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('BEGIN');
  await holder.query("SELECT 1 FROM jobs WHERE name = 'race' FOR UPDATE");
  const claims = Promise.all([claimTick(pool, lease, 'race', tick(1), 'n1'), claimTick(pool, lease, 'race', tick(2), 'n1')]);
  await waitFor('both claims to wait for the job', async () => {
    const r = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
    return r.rows[0]!.n === 2;
  });
  await holder.query('COMMIT');
  const [a, b] = (await claims) as [TickClaim, TickClaim];
  t.same([a.state, b.state].sort(), ['running', 'skipped'], 'exactly one of the two runs');
  const [running, skipped] = a.state === 'running' ? [a, b] : [b, a];
  t.match(skipped, { state: 'skipped', stillRunning: { id: running.id, state: 'running' } }, 'the other names it');

  // While it runs, more ticks are skipped, even claimed at once.
  const more = await Promise.all([claimTick(pool, lease, 'race', tick(3), 'n1'), claimTick(pool, lease, 'race', tick(4), 'n1')]);
  t.match(more, [{ state: 'skipped', stillRunning: { id: running.id } }, { state: 'skipped', stillRunning: { id: running.id } }]);

  // Once it ended, racing pairs of claims (no holder now): each pair runs exactly one.
  let current = running.id;
  for (let round = 0; round < 10; round++) {
    await finishRun(pool, current, { state: 'succeeded', result: null });
    const pair = (await Promise.all([claimTick(pool, lease, 'race', tick(10 + 2 * round), 'n1'), claimTick(pool, lease, 'race', tick(11 + 2 * round), 'n1')])) as [TickClaim, TickClaim];
    t.same(pair.map((c) => c.state).sort(), ['running', 'skipped'], `round ${round}: one runs, one is skipped`);
    current = pair.find((c) => c.state === 'running')!.id;
  }
  const states = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM job_runs WHERE state = 'running'");
  t.equal(states.rows[0]!.n, 1, 'one run going at the end');
});

t.test('a run left running past its timeout plus the grace, or by a leader that died, does not block; a fresh one and a run by hand do', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const target = { kind: 'command' as const, argv: [node, '-e', '0'] };
  for (const name of ['stale', 'fresh', 'manual', 'orphan']) await defineJob(pool, { name, schedule: '* * * * * *', target, timeoutMs: 1_000 }, 'test');
  const dead = (await tryAcquire(pool, 'scheduler', 'dead', 60_000))!;
  await release(pool, dead);
  const lease = (await tryAcquire(pool, 'scheduler', 'n1', 60_000))!;
  const insertRunning = (job: string, epoch: number, nodeId: string, ageMs: number) =>
    pool.query(
      `INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, node_id, state, started_at)
       VALUES ($1, '2030-01-01T00:00:00Z', $2, $3, 'running', now() - make_interval(secs => $4::double precision / 1000)) RETURNING id`,
      [job, epoch, nodeId, ageMs],
    );
  const tick = new Date('2030-01-01T03:00:00Z');

  // This leader's own run (say a runner that was stopped and gave up waiting for it), older
  // than timeout + grace: something killed it unrecorded.
  await insertRunning('stale', lease.epoch, 'n1', 1_000 + STALE_RUN_GRACE_MS + 2_000);
  t.match(await claimTick(pool, lease, 'stale', tick, 'n1'), { state: 'running' }, 'older than timeout + grace: the tick runs');

  const young = await insertRunning('fresh', lease.epoch, 'n1', 1_000 + STALE_RUN_GRACE_MS - 5_000);
  t.match(await claimTick(pool, lease, 'fresh', tick, 'n1'), { state: 'skipped', stillRunning: { id: Number(young.rows[0].id) } }, 'past its timeout but within the grace: still going');

  const byHand = await insertRunning('manual', 0, 'cli@host', 100);
  t.match(await claimTick(pool, lease, 'manual', tick, 'n1'), { state: 'skipped', stillRunning: { id: Number(byHand.rows[0].id), leaderEpoch: 0 } }, 'a run by hand counts');

  const orphan = await insertRunning('orphan', dead.epoch, 'dead', 100);
  t.match(await claimTick(pool, lease, 'orphan', tick, 'n1'), { state: 'running' }, "a previous leader's run does not block the new leader's first tick");
  t.match((await listRuns(pool, 'orphan', 10)).find((r) => r.id === Number(orphan.rows[0].id)), { state: 'failed', error: /lost leadership before it finished/ }, 'it is marked failed, as the leader marks orphans');
});

t.test('the migration keeps existing jobs overlapping (allow); new jobs default to forbid; skipped is a run state', async (t) => {
  const { pool } = await testDatabase(t);
  const migrations = loadMigrations();
  const before = migrations.filter((m) => m.version < 6);
  t.equal(migrations.find((m) => m.version === 6)?.name, 'job_concurrency');
  await migrate(pool, { migrations: before });
  await pool.query(`INSERT INTO jobs (name, schedule, target_kind, target) VALUES ('old', '* * * * *', 'command', '{"argv": ["true"]}')`);
  await migrate(pool);
  t.equal((await getJob(pool, 'old'))?.concurrency, 'allow', 'a job defined before keeps its behaviour');
  await pool.query(`INSERT INTO jobs (name, schedule, target_kind, target) VALUES ('raw', '* * * * *', 'command', '{"argv": ["true"]}')`);
  t.equal((await getJob(pool, 'raw'))?.concurrency, 'forbid', 'the column default is forbid');
  await t.rejects(pool.query("UPDATE jobs SET concurrency = 'replace' WHERE name = 'old'"), { message: /jobs_concurrency_check/ });
  await pool.query("INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, state) VALUES ('old', now(), 1, 'skipped')");
  await t.rejects(pool.query("INSERT INTO job_runs (job_name, scheduled_for, leader_epoch, state) VALUES ('old', now() + interval '1 s', 1, 'bogus')"), { message: /job_runs_state_check/ });
});
