/**
 * Cron jobs: definitions are validated when defined; the leader alone runs each tick, exactly
 * once across a leader crash; a deposed leader cannot claim a tick; command and service-function
 * targets record their result or a clear failure.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { CallRunner } from '../../scheduler/calls/callRunner.js';
import { CronRunner, runJobNow } from '../../scheduler/cron/cronRunner.js';
import { claimTick, listRuns } from '../../scheduler/cron/runRecords.js';
import { JobDefinitionError, JobNotFoundError } from '../../scheduler/cron/errors.js';
import { defineJob, listJobs, removeJob, setJobEnabled } from '../../scheduler/cron/jobs.js';
import type { JobInput } from '../../scheduler/cron/jobSpec.js';
import { FencingError } from '../../scheduler/errors.js';
import { LeaderElector } from '../../scheduler/leaderElector.js';
import { release, tryAcquire } from '../../scheduler/lease.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { createLogger } from '../../core/log.js';
import { testDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/wait.js';

const quiet = createLogger({}, { write: () => undefined });
const node = process.execPath;

function command(name: string, argv: string[], extra: Partial<JobInput> = {}): JobInput {
  return { name, schedule: '0 3 * * *', target: { kind: 'command', argv }, ...extra };
}

t.test('definitions are validated field by field and nothing invalid is stored', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  /** Refused with a JobDefinitionError whose message starts with (string) or matches (RegExp) `expected`. */
  const refused = async (input: unknown, expected: RegExp | string) => {
    const err = await defineJob(pool, input as JobInput, 'test').then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof JobDefinitionError, `refused: ${String(expected)}`);
    const message = err instanceof Error ? err.message : '';
    if (typeof expected === 'string') t.ok(message.startsWith(expected), `"${message}" starts with "${expected}"`);
    else t.match(message, expected);
  };
  const ok = command('nightly.compact', [node, '-e', '0']);

  await refused({ ...ok, schedule: '61 * * * *' }, /^job schedule: "61 \* \* \* \*" is invalid.*minute: 61 is a invalid expression for minute/);
  await refused({ ...ok, schedule: '0 25 * * *' }, /schedule: "0 25 \* \* \*".*hour: 25/);
  await refused({ ...ok, schedule: 'every day' }, /schedule: "every day".*expected 5 or 6 fields but got 2/);
  await refused({ ...ok, schedule: '0 0 31 2 *' }, /dayOfMonth: 31 2 is an impossible day of month/);
  for (const name of ['Nightly', '', '-x', 'a b', 'a'.repeat(64), 'x/y']) {
    await refused({ ...ok, name }, `job name: ${JSON.stringify(name)} is invalid; expected 1 to 63 characters`);
  }
  await refused({ ...ok, target: { kind: 'command', argv: [] } }, /^job target\.argv: \[\] is invalid; expected a non-empty list/);
  await refused({ ...ok, target: { kind: 'command', argv: [''] } }, /target\.argv\[0\]: "" is invalid/);
  await refused({ ...ok, target: { kind: 'shell', argv: ['ls'] } }, /target\.kind: "shell" is invalid/);
  await refused({ ...ok, target: { kind: 'service_function', service: 'store' } }, /target\.function: undefined is invalid/);
  await refused({ ...ok, target: { kind: 'command', argv: ['ls'], env: { 'BAD-NAME': 'x' } } }, /target\.env\.BAD-NAME/);
  await refused({ ...ok, timeoutMs: 0 }, /^job timeoutMs: 0 is invalid; expected a positive integer/);
  await refused({ ...ok, timeoutMs: 1.5 }, /timeoutMs: 1\.5 is invalid/);
  await refused({ ...ok, enabled: 'yes' }, /enabled: "yes" is invalid/);
  await refused({ ...ok, concurrency: 'replace' as never }, `job concurrency: "replace" is invalid; expected 'forbid' (a tick is skipped while a run is still going) or 'allow'`);
  t.same(await listJobs(pool), [], 'nothing was stored');

  const job = await defineJob(pool, { ...ok, target: { kind: 'command', argv: [node, '-e', '0'], env: { TOKEN: 'secret' } } }, 'alice');
  t.match(job, { name: 'nightly.compact', enabled: true, timeoutMs: 60_000, concurrency: 'forbid', lastRun: null, target: { kind: 'command', env: { TOKEN: 'secret' } } });
  const stored = await pool.query<{ target_kind: string; target: unknown }>('SELECT target_kind, target FROM jobs');
  t.same(stored.rows[0], { target_kind: 'command', target: { argv: [node, '-e', '0'], env: { TOKEN: 'secret' } } }, 'stored as {argv, env} per the schema');
  const audit = await pool.query<{ actor: string; kind: string; subject: string; detail: { target: { env: unknown } } }>('SELECT actor, kind, subject, detail FROM audit_events');
  t.match(audit.rows, [{ actor: 'alice', kind: 'job.defined', subject: 'nightly.compact' }]);
  t.same(audit.rows[0]!.detail.target.env, ['TOKEN'], 'the audit keeps environment names, not values');

  await setJobEnabled(pool, 'nightly.compact', false, 'bob');
  const redefined = await defineJob(pool, { ...ok, schedule: '*/5 * * * *', timeoutMs: 1_000, concurrency: 'allow' }, 'alice');
  t.match(redefined, { schedule: '*/5 * * * *', timeoutMs: 1_000, concurrency: 'allow', enabled: false }, 'an upsert; a disable survives a redefinition without `enabled`');
  t.match(await defineJob(pool, { ...ok, enabled: true }, 'alice'), { enabled: true, concurrency: 'forbid' }, 'a redefinition without concurrency takes the default, like timeoutMs');
  await removeJob(pool, 'nightly.compact', 'bob');
  await t.rejects(removeJob(pool, 'nightly.compact', 'bob'), JobNotFoundError);
  await t.rejects(setJobEnabled(pool, 'ghost', true, 'bob'), { name: 'JobNotFoundError', message: "unknown job 'ghost'; see 'hydra scheduler jobs'" });
  const kinds = await pool.query<{ kind: string }>('SELECT kind FROM audit_events ORDER BY id');
  t.same(kinds.rows.map((r) => r.kind), ['job.defined', 'job.disabled', 'job.defined', 'job.defined', 'job.removed']);
});

t.test('three candidates: each per-second tick runs exactly once, by the leader, across a leader crash', async (t) => {
  const { pool, url } = await testDatabase(t);
  await migrate(pool);
  const dir = mkdtempSync(join(tmpdir(), 'hydra-cron-'));
  const file = join(dir, 'ticks.log');
  // One line per run: the tick it was told it is and its run id.
  const script = "require('node:fs').appendFileSync(process.argv[1], process.env.HYDRA_JOB_SCHEDULED_FOR + ' ' + process.env.HYDRA_JOB_RUN_ID + '\\n')";
  // 'allow': this is about claiming each tick once; a run slowed past a second by a loaded
  // machine must not turn a tick into 'skipped' here (cronConcurrency.test.ts covers forbid).
  await defineJob(pool, { name: 'tick', schedule: '* * * * * *', target: { kind: 'command', argv: [node, '-e', script, file] }, timeoutMs: 5_000, concurrency: 'allow' }, 'test');

  const ttlMs = 1_500;
  const logs: string[] = [];
  /** Who held each epoch, from the electors' own `elected` events. */
  const holderOf = new Map<number, string>();
  const candidates = ['n1', 'n2', 'n3'].map((id) => {
    // A pool each, as separate scheduler processes would have.
    const db = new pg.Pool({ connectionString: url, max: 3 });
    const log = createLogger({ node: id }, { write: (line) => logs.push(line) });
    const elector = new LeaderElector({ db, name: 'scheduler', holder: id, ttlMs, retryEveryMs: 100, log });
    const runner = new CronRunner({ db, nodeId: id, fence: () => elector.fence, reloadEveryMs: 500, log });
    elector.on('elected', (lease) => {
      holderOf.set(lease.epoch, id);
      runner.start();
    });
    elector.on('deposed', () => void runner.stop());
    return { id, db, elector, runner };
  });
  let ended = false;
  const end = async () => {
    if (ended) return;
    ended = true;
    for (const c of candidates) {
      await c.elector.stop();
      await c.runner.stop();
    }
    await Promise.all(candidates.map((c) => c.db.end()));
  };
  t.teardown(async () => {
    await end();
    rmSync(dir, { recursive: true, force: true });
    // On a loaded machine leadership or a tick can slip: the logs say which.
    if (!t.passing()) console.error(logs.join(''));
  });

  const finished = async (minEpoch: number) =>
    Number((await pool.query<{ n: string }>("SELECT count(*) AS n FROM job_runs WHERE leader_epoch >= $1 AND state <> 'running'", [minEpoch])).rows[0]!.n);
  for (const c of candidates) c.elector.start();
  await waitFor('5 finished runs', async () => (await finished(1)) >= 5, 15_000, 50);
  t.equal(candidates.filter((c) => c.runner.isRunning).length, 1, 'only the leader runs its cron tasks');
  const [leader, crashed] = await waitFor('the leader', () => {
    for (const c of candidates) {
      const fence = c.elector.fence;
      if (fence) return [c, fence] as const;
    }
    return null;
  });

  // Crash the leader: no release, the lease has to expire.
  const crashedAt = performance.now();
  await leader.elector.stop({ release: false });
  await leader.runner.stop();
  const next = await waitFor('a new leader', () => candidates.find((c) => c !== leader && c.elector.isLeader), 15_000, 20);
  const takeoverMs = Math.round(performance.now() - crashedAt);
  t.ok(takeoverMs <= ttlMs + 1_500, `another leads ${takeoverMs} ms after the crash (lease ${ttlMs} ms)`);
  await waitFor('4 runs after the takeover', async () => (await finished(crashed.epoch + 1)) >= 4, 15_000, 50);
  await end();

  const rows = (
    await pool.query<{ id: string; scheduled_for: Date; leader_epoch: string; node_id: string; state: string; error: string | null }>(
      'SELECT id, scheduled_for, leader_epoch, node_id, state, error FROM job_runs ORDER BY scheduled_for',
    )
  ).rows;
  t.same(rows.filter((r) => r.state !== 'succeeded'), [], 'every run succeeded and was recorded');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.equal(lines.length, rows.length, `${rows.length} runs, ${lines.length} lines: each run wrote once`);
  t.same(lines.slice().sort(), rows.map((r) => `${r.scheduled_for.toISOString()} ${r.id}`).sort(), 'each line is the tick of one recorded run');
  t.equal(new Set(rows.map((r) => r.scheduled_for.getTime())).size, rows.length, 'no tick ran twice');

  t.same(rows.filter((r) => holderOf.get(Number(r.leader_epoch)) !== r.node_id), [], 'each run was claimed by the holder of the epoch it carries');
  const epochs = rows.map((r) => Number(r.leader_epoch));
  t.ok(epochs.every((e, i) => i === 0 || e >= epochs[i - 1]!), `leaders' ticks never interleave (epochs in tick order: ${[...new Set(epochs)].join(', ')})`);
  t.ok(rows.some((r) => Number(r.leader_epoch) === crashed.epoch) && rows.some((r) => Number(r.leader_epoch) > crashed.epoch && r.node_id !== leader.id), 'runs went on under another node after the crash');
  for (const epoch of new Set(epochs)) {
    const ticks = rows.filter((r) => Number(r.leader_epoch) === epoch).map((r) => r.scheduled_for.getTime());
    const gaps = ticks.slice(1).map((tk, i) => tk - ticks[i]!);
    t.ok(gaps.every((g) => g === 1_000), `epoch ${epoch} (${holderOf.get(epoch)}) ran ${ticks.length} consecutive seconds: gaps ${gaps.join(',') || 'none'}`);
  }
});

t.test("a deposed leader's claim of a tick is refused; a tick is claimed once, by the whole second", async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await defineJob(pool, command('claimed', [node, '-e', '0']), 'test');
  const old = (await tryAcquire(pool, 'scheduler', 'a', 5_000))!;
  await release(pool, old);
  const current = (await tryAcquire(pool, 'scheduler', 'b', 5_000))!;
  const tick = new Date('2030-01-01T03:00:00.250Z');
  await t.rejects(claimTick(pool, old, 'claimed', tick, 'a'), FencingError, 'the old epoch cannot claim');
  t.same(await listRuns(pool, 'claimed', 10), [], 'and wrote no row');
  const claim = await claimTick(pool, current, 'claimed', tick, 'b');
  t.match(claim, { id: Number, state: 'running' });
  t.equal(await claimTick(pool, current, 'claimed', new Date('2030-01-01T03:00:00.900Z'), 'b'), null, 'the same second again is already claimed');
  t.match(await listRuns(pool, 'claimed', 10), [{ id: claim!.id, scheduledFor: new Date('2030-01-01T03:00:00.000Z'), leaderEpoch: current.epoch, nodeId: 'b', state: 'running' }]);
  await t.rejects(claimTick(pool, current, 'ghost', tick, 'b'), JobNotFoundError, 'a removed job names itself');
});

t.test('command runs: output tails on success, exit code and stderr on failure, a timeout kills', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await defineJob(pool, command('chatty', [node, '-e', "process.stdout.write('a'.repeat(10000) + 'END')"]), 'test');
  await defineJob(pool, command('broken', [node, '-e', "process.stderr.write('disk on fire'); process.exit(3)"]), 'test');
  await defineJob(pool, command('slow', [node, '-e', 'setTimeout(() => {}, 30000)'], { timeoutMs: 500 }), 'test');
  await defineJob(pool, command('missing', ['/nonexistent/program']), 'test');

  const ok = await runJobNow(pool, 'chatty', 'carol', quiet);
  t.match(ok, { jobName: 'chatty', state: 'succeeded', leaderEpoch: 0, nodeId: 'carol', error: null, result: { exitCode: 0, stderr: '' } });
  const stdout = (ok.result as { stdout: string }).stdout;
  t.ok(stdout.length <= 4096 && stdout.endsWith('END'), `stdout kept as its last ${stdout.length} bytes`);

  const failed = await runJobNow(pool, 'broken', 'carol', quiet);
  t.match(failed, { state: 'failed', result: null, error: /exit code 3: disk on fire/ });
  t.ok(failed.finishedAt);

  const started = performance.now();
  const slow = await runJobNow(pool, 'slow', 'carol', quiet);
  t.match(slow, { state: 'failed', error: /timed out after 500 ms/ });
  t.ok(performance.now() - started < 4_000, 'killed at its timeout');

  t.match(await runJobNow(pool, 'missing', 'carol', quiet), { state: 'failed', error: /\/nonexistent\/program could not be run/ });

  const jobs = await listJobs(pool);
  t.same(jobs.map((j) => [j.name, j.lastRun?.state]), [['broken', 'failed'], ['chatty', 'succeeded'], ['missing', 'failed'], ['slow', 'failed']], 'listJobs shows each last run');
  t.equal((await pool.query("SELECT 1 FROM audit_events WHERE kind = 'job.run' AND actor = 'carol'")).rowCount, 4, 'runs by hand are audited');
});

t.test('service functions: called on a running instance; no instance or an error answer fails clearly', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  const calls: unknown[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({ method: req.method, url: req.url, secret: req.headers['x-hydra-node-secret'], body: JSON.parse(body || 'null') as unknown });
      const send = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'POST' && req.url === '/_hydra/functions/compact') send(200, { compacted: (JSON.parse(body) as { args: { table: string } }).args.table, rows: 42 });
      else if (req.url === '/_hydra/functions/explode') send(500, { error: 'disk full' });
      else send(404, { error: 'no such function' });
    });
  });
  // The instance's functions listener is a Unix socket the node chose, called with the node's secret.
  const socketDir = mkdtempSync(join(tmpdir(), 'hydra-fn-'));
  t.teardown(() => rmSync(socketDir, { recursive: true, force: true }));
  const socket = join(socketDir, 'store.sock');
  const secret = 's'.repeat(43);
  server.listen(socket);
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = 7777;

  await defineJob(pool, { name: 'compact', schedule: '0 * * * *', target: { kind: 'service_function', service: 'store', function: 'compact', args: { table: 'readings' } } }, 'test');
  await defineJob(pool, { name: 'explode', schedule: '0 * * * *', target: { kind: 'service_function', service: 'store', function: 'explode' } }, 'test');
  t.match(await runJobNow(pool, 'compact', 'test', quiet), { state: 'failed', error: /^no running instance of service store/ });

  // Node n1 with a running placement of store; its side of the call mailbox runs here, with the
  // test server as its local instance (the real node's is exercised by the fleet tests).
  await pool.query("INSERT INTO nodes (id, host_key, address, version) VALUES ('n1', 'hk1', 'https://n1.example.net', '1')");
  const n1 = new CallRunner({ nodeId: 'n1', store: { pool }, functionsOf: (service) => (service === 'store' ? { socket, secret } : null), log: quiet, pollMs: 20 });
  n1.start();
  t.teardown(() => n1.stop());
  await pool.query("INSERT INTO service_specs (name) VALUES ('store')");
  await pool.query(
    "INSERT INTO placements (service, instance, node_id, leader_epoch, actual_state, actual_port, actual_node) VALUES ('store', 0, 'n1', 1, 'running', $1, 'n1')",
    [port],
  );
  const run = await runJobNow(pool, 'compact', 'test', quiet);
  t.match(run, {
    state: 'succeeded',
    result: { service: 'store', function: 'compact', node: 'n1', status: 200, url: `unix:${socket}:/_hydra/functions/compact`, body: { compacted: 'readings', rows: 42 } },
  });
  t.same(calls, [{ method: 'POST', url: '/_hydra/functions/compact', secret, body: { args: { table: 'readings' } } }], 'POSTed {args} as JSON, with the node secret');
  t.same((await listRuns(pool, 'compact', 1))[0]?.result, run.result, 'the result is recorded in job_runs');

  t.match(await runJobNow(pool, 'explode', 'test', quiet), { state: 'failed', error: /store\.explode .* answered 500: disk full$/ });

  t.equal((await pool.query('SELECT 1 FROM function_calls')).rowCount, 0, 'answered calls are removed by their caller');

  // The node runs the call but its instance went away meanwhile: the run fails saying so.
  await n1.stop();
  const offline = new CallRunner({ nodeId: 'n1', store: { pool }, functionsOf: () => null, log: quiet, pollMs: 20 });
  offline.start();
  t.teardown(() => offline.stop());
  t.match(await runJobNow(pool, 'compact', 'test', quiet), { state: 'failed', error: /^store\.compact \(node n1\) no running instance of service store on node n1 any more/ });
  await offline.stop();

  // Nobody takes the call (the node's daemon is gone but not yet marked down): the job's timeout ends it.
  await defineJob(pool, { name: 'quick', schedule: '0 * * * *', timeoutMs: 300, target: { kind: 'service_function', service: 'store', function: 'compact' } }, 'test');
  t.match(await runJobNow(pool, 'quick', 'test', quiet), { state: 'failed', error: /^store\.compact on node n1 timed out after 300 ms: node n1 did not take the call within 300 ms/ });
  t.equal((await pool.query('SELECT 1 FROM function_calls')).rowCount, 0, 'the unanswered call was removed');

  await pool.query("UPDATE nodes SET state = 'down'");
  t.match(await runJobNow(pool, 'compact', 'test', quiet), { state: 'failed', error: /^no running instance of service store/ }, 'an instance on a down node is not called');
});

t.test('the runner keeps one task per enabled job, following the jobs table, and runs nothing without a fence', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  let asked = 0;
  const fence = () => {
    asked++;
    return null;
  };
  const runner = new CronRunner({ db: pool, nodeId: 'n1', fence, reloadEveryMs: 60_000, log: quiet });
  t.teardown(() => runner.stop());
  await defineJob(pool, command('a', [node, '-e', '0'], { schedule: '* * * * * *' }), 'test');
  await defineJob(pool, command('b', [node, '-e', '0'], { schedule: '* * * * * *', enabled: false }), 'test');
  runner.start();
  await waitFor('the first load', () => runner.scheduledJobs.length > 0);
  t.same(runner.scheduledJobs, ['a']);
  await setJobEnabled(pool, 'b', true, 'test');
  await removeJob(pool, 'a', 'test');
  await runner.reload();
  t.same(runner.scheduledJobs, ['b']);
  await waitFor('two ticks asking for the fence', () => asked >= 2, 5_000);
  await runner.stop();
  t.same(runner.scheduledJobs, [], 'stop drops every task');
  t.same(await listRuns(pool), [], 'ticks without a fence claimed and ran nothing');
});

t.test('runJobNow of an unknown job names it and where to look', async (t) => {
  const { pool } = await testDatabase(t);
  await migrate(pool);
  await t.rejects(runJobNow(pool, 'nope', 'test', quiet), { name: 'JobNotFoundError', job: 'nope', message: "unknown job 'nope'; see 'hydra scheduler jobs' for the defined jobs" });
});
