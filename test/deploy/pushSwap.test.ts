/**
 * Deploy by git push, end to end on a real scheduled node running the reference pipeline under a
 * steady simulator load: a clone of this repository pushes a change of `parse` to the node's
 * deploy repository (made by `hydra deploy init`); the release is built, only parse's hash
 * changed, so only parse is hot-swapped (new pid) while ingest, state and report keep their
 * pids; every acknowledged packet ends in the state, no state change is applied twice, and the
 * longest pause in state changes during the swap is measured. Then a parse that crashes on start
 * and one that throws on every message: both are rolled back automatically, the push is refused
 * with the reason, the pipeline keeps flowing, and `hydra scheduler deployments` shows why.
 *
 * The node's first release is this checkout itself (its dist/, with the hashes a push of HEAD
 * would have), as boot.sh installs a node from its own code; so the test is exact on a clean
 * checkout (CI), where the working tree equals HEAD.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import type { ItemRecord, StateChangeV1 } from '../../services/messages.js';
import { Simulator } from '../../services/simulator/simulator.js';
import { releaseEnv } from '../../deploy/buildEnv.js';
import { inspectRelease } from '../../deploy/inspect.js';
import { createProgress } from '../../deploy/progress.js';
import { serviceHashes } from '../../deploy/serviceHashes.js';
import { waitFor } from '../helpers/wait.js';
import { longestPause, OWN_DIST, scheduledPipeline, tailStream, type ScheduledPipeline } from '../pipeline/scheduledPipeline.js';
import { hydra } from '../scheduler/schedulerCli.js';
import { git, gitPush } from './deployHarness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARSE = 'services/parse/index.ts';
const run = promisify(execFile);

/** Makes this checkout the node's current release: hashes as a push would compute, an install dir to reuse. */
async function seedRelease(p: ScheduledPipeline, commit: string): Promise<void> {
  const silent = createProgress({ out: () => undefined, err: () => undefined });
  const services = await inspectRelease(ROOT, OWN_DIST, releaseEnv(process.env), silent);
  const hashes = serviceHashes(OWN_DIST, services, readFileSync(path.join(ROOT, 'package-lock.json')));
  await p.pool.query('UPDATE releases SET service_hashes = $2 WHERE commit = $1', [commit, JSON.stringify(hashes)]);
  const dir = path.join(p.home, 'releases', commit);
  mkdirSync(dir, { recursive: true });
  await run('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules')]);
  await run('cp', [path.join(ROOT, 'package-lock.json'), dir]);
}

async function mismatches(p: ScheduledPipeline, sim: Simulator): Promise<number> {
  const stateUrl = await p.url('state');
  const held = new Map<string, number>();
  for (const site of p.fleet.sites) {
    const res = await fetch(`${stateUrl}/state/items?site=${site.id}`, { headers: p.auth });
    const { items } = (await res.json()) as { items: Array<{ site: number; device: number; item: number; seq: number } & ItemRecord> };
    for (const i of items) held.set(`${i.site}/${i.device}/${i.item}`, i.seq);
  }
  return sim.expectedItems().filter((e) => held.get(`${e.site}/${e.device}/${e.item}`) !== e.seq).length;
}

// Three real builds of this repository and three rollouts: longer than the suite's per-file
// default. On the root, setTimeout tells the runner too.
t.setTimeout(480_000);

t.test('git push of a parse change under load; then a parse that crashes and one that throws, both rolled back', async (t) => {
  const head = await git(ROOT, 'rev-parse', 'HEAD');
  const p = await scheduledPipeline(t, { release: head, logLevel: 'warn' });
  await seedRelease(p, head);
  const env = { ...p.env, HYDRA_LOG_LEVEL: 'warn' };
  const init = await hydra(env, 'deploy', 'init', '--health-window', '1500', '--wait-timeout', '120000');
  t.equal(init.code, 0, init.stderr);
  const repo = path.join(p.home, 'deploy.git');

  const work = mkdtempSync(path.join(tmpdir(), 'hydra-push-work-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  await run('git', ['clone', '--quiet', ROOT, work]);
  await git(work, 'config', 'user.email', 'test@hydra.invalid');
  await git(work, 'config', 'user.name', 'Hydra test');
  const original = readFileSync(path.join(work, PARSE), 'utf8');
  const commitParse = async (text: string, message: string) => {
    await import('node:fs').then((fs) => fs.writeFileSync(path.join(work, PARSE), text));
    await git(work, 'commit', '--quiet', '-am', message);
    return git(work, 'rev-parse', 'HEAD');
  };

  // ---- a good change of parse, under load ------------------------------------------------
  const sim = new Simulator({ fleet: p.fleet, seed: 3, replayRate: 0, reorderRate: 0 });
  const changes = await tailStream(p.redis, 'state.changes');
  const pidsBefore = await p.pids();
  const ingestUrl = await p.url('ingest');
  // Runs until the last push is done (durationMs is only a cap).
  const endLoad = new AbortController();
  const load = sim.run({ url: ingestUrl, rate: 100, durationMs: 600_000, retryForMs: 60_000, signal: endLoad.signal });
  await new Promise((r) => setTimeout(r, 2_000));
  const good = await commitParse(`${original}\n// Redeployed by test/deploy/pushSwap.test.ts: only this service's hash changes.\n`, 'parse: a change to deploy');
  const pushed = await gitPush(work, repo, 'HEAD:main');
  t.equal(pushed.code, 0, `the push is accepted:\n${pushed.output.slice(-3000)}`);
  t.ok(pushed.remote.some((l) => /^hydra: install: package-lock.json unchanged/.test(l)), 'node_modules reused (remote: progress lines)');
  t.match(pushed.remote.at(-1), new RegExp(`release ${good.slice(0, 12)} ready: parse changed → deployment \\d+ succeeded; ingest, report, state unchanged|release ${good.slice(0, 12)} ready: parse changed → deployment \\d+ succeeded; .*unchanged`), 'the summary: parse swapped, the others unchanged');
  const pidsAfter = await p.pids();
  t.not(pidsAfter.parse, pidsBefore.parse, 'parse runs with a new pid');
  t.same({ ingest: pidsAfter.ingest, state: pidsAfter.state, report: pidsAfter.report }, { ingest: pidsBefore.ingest, state: pidsBefore.state, report: pidsBefore.report }, 'ingest, state and report keep their pids');
  const deployment = await p.pool.query<{ created_at: Date; finished_at: Date; state: string }>("SELECT created_at, finished_at, state FROM deployments WHERE service = 'parse' ORDER BY id DESC LIMIT 1");
  const swapWindow = [deployment.rows[0]!.created_at.getTime(), deployment.rows[0]!.finished_at.getTime()] as const;

  // ---- a parse that crashes on start -------------------------------------------------------
  // It loads (the push's manifest check passes) and fails in init, as a bad config would.
  const crashing = await commitParse(original.replace(/init\(ctx\) \{/, (m) => `${m}\n    if (Date.now() > 0) throw new Error('parse build that cannot start');`), 'parse: crash on start');
  const crashPush = await gitPush(work, repo, 'HEAD:main');
  t.not(crashPush.code, 0, 'the push of a parse that crashes on start is refused');
  t.match(crashPush.output, /refused: deployment \d+ of parse failed: parse#1 on swap failed with release [0-9a-f]{12}: .*parse build that cannot start/, 'the pusher is told why');
  await waitFor('the good parse reported running again', async () => (await p.pids()).parse === pidsAfter.parse, 30_000, 100);
  t.pass('the good parse kept running (same pid)');

  // ---- a parse that throws on every message, under load again --------------------------------
  const throwing = await commitParse(
    original.replace(/async handle\(([^)]*)\)\s*\{/, (m) => `${m}\n    if (Date.now() > 0) throw new Error('parse build that fails every message');`),
    'parse: throws on every message',
  );
  t.not(readFileSync(path.join(work, PARSE), 'utf8'), original, 'the throwing variant was written');
  const throwPush = await gitPush(work, repo, 'HEAD:main');
  t.not(throwPush.code, 0, 'the push of a parse that throws on every message is refused');
  t.match(throwPush.output, /refused: deployment \d+ of parse failed: parse#1 on swap is unhealthy with release [0-9a-f]{12}: failing \d+ of \d+ messages/, 'the pusher is told why');
  await waitFor('the good parse back', async () => {
    const r = await p.pool.query<{ actual_version: string; actual_state: string }>("SELECT actual_version, actual_state FROM placements WHERE service = 'parse'");
    return r.rows[0]!.actual_version === good && r.rows[0]!.actual_state === 'running';
  }, 60_000, 100);
  t.pass('parse runs the last good release again');

  const listed = await hydra(env, 'scheduler', 'deployments', '--service', 'parse');
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /failed .*parse build that cannot start/, 'hydra scheduler deployments shows why the crashing release failed');
  t.match(listed.stdout, /failed .*failing \d+ of \d+ messages/, 'and why the throwing one failed');
  t.match(listed.stdout, /succeeded/, 'and the good deployment');

  // ---- what the load saw ---------------------------------------------------------------------
  endLoad.abort();
  const stats = await load;
  let lost = -1;
  await waitFor('the state to settle', async () => (lost = await mismatches(p, sim)) === 0, 60_000, 250).catch(() => undefined);
  const tailed = await changes.stop();
  const seen = new Map<string, number>();
  for (const { body } of tailed) {
    const c = body as StateChangeV1;
    const key = `${c.site}/${c.device}/${c.item}/${c.seq}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const duplicated = [...seen.values()].reduce((n, c) => n + c - 1, 0);
  const pauseMs = longestPause(tailed.map((e) => e.ms), swapWindow[0], swapWindow[1]);
  const dead = await p.redis.redis.xlen(`${p.redis.prefix}packets.raw:dead`);
  t.comment(`frames sent ${stats.sent}, acknowledged ${stats.accepted}; state changes ${tailed.length}; lost ${lost}; duplicated ${duplicated}; dead-lettered by the throwing release ${dead}`);
  t.comment(`longest pause in state changes during the parse swap: ${pauseMs} ms (swap took ${swapWindow[1] - swapWindow[0]} ms)`);
  t.equal(stats.accepted, stats.sent, 'ingest acknowledged every frame');
  t.equal(duplicated, 0, 'no state change applied twice');
  // The throwing release dead-lettered what it failed before it was rolled back: those frames are
  // kept with the reason in packets.raw:dead, not applied. Every other acknowledged frame is.
  t.ok(lost <= dead, `every acknowledged frame is in the state or in the dead-letter stream (${lost} not applied, ${dead} dead-lettered)`);
  void crashing;
  void throwing;
});
