/**
 * `hydra deploy receive`: what a push runs (from the pre-receive hook, which serialises pushes).
 * Check out the commit into releases/<sha>, install (node_modules reused when the lockfile is
 * unchanged), build, check every service's manifest and consumed types, hash each service,
 * keep the commit's source in the database (other nodes build the release from it), record the
 * release; then roll out the services whose hash changed and wait for them. Any
 * failure refuses the push (exit 1): the branch does not move, a release that failed to build
 * activates nothing, and what runs is untouched. Every step prints a line; the last one sums up.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Deployment } from '../scheduler/rollout.js';
import type { Db } from '../core/pgTransaction.js';
import { planActivation, startRollouts, waitForRollouts, type ActivationPlan } from './activate.js';
import { appRootOf, buildRelease } from './build.js';
import { releaseEnv, repoEnv } from './buildEnv.js';
import { checkoutCommit, commitSubject, refValue } from './checkout.js';
import type { DeployPaths, ReceiveSettings } from './config.js';
import { messageOf } from '../core/errors.js';
import { DeployError } from './errors.js';
import { inspectRelease } from './inspect.js';
import { installDependencies } from './install.js';
import { short, type Progress } from './progress.js';
import { pruneReleases } from './prune.js';
import { archiveCommit, storeSource } from './releaseSource.js';
import { beginRelease, getRelease, hasReleaseSource, markFailed, markReady, readyReleases, type Release } from '../scheduler/store/releases.js';
import { isZero, parseRefUpdates, planRefs } from './refUpdates.js';
import { serviceHashes } from './serviceHashes.js';

export interface ReceiveInput {
  /** git's `<old> <new> <ref>` lines. */
  stdin: string;
  settings: ReceiveSettings;
  paths: DeployPaths;
  /** The bare repository (absolute). */
  repo: string;
  env: NodeJS.ProcessEnv;
  progress: Progress;
  /** Runs fn with a database connection (the CLI's withDatabase). */
  withDb<T>(fn: (db: Db) => Promise<T>): Promise<T>;
}

export const EXIT_ACCEPT = 0;
export const EXIT_REFUSE = 1;

export async function receive(input: ReceiveInput): Promise<number> {
  const { progress, settings } = input;
  let commit: string;
  try {
    const { deploy, others } = planRefs(parseRefUpdates(input.stdin), settings.branch);
    for (const o of others) progress.step(`${o.ref}: accepted as is (only refs/heads/${settings.branch} deploys)`);
    if (!deploy) return EXIT_ACCEPT;
    commit = deploy.new;
    const gitEnv = repoEnv(input.env, input.repo);
    // git moves the branch only if it still holds `old`: a push that waited while the one
    // before moved it would build and roll out a commit whose ref update then fails.
    const now = await refValue(gitEnv, `refs/heads/${settings.branch}`);
    const expected = isZero(deploy.old) ? null : deploy.old;
    if (now !== expected) {
      throw new DeployError('refs', `${settings.branch} moved to ${now === null ? 'nothing' : short(now)} while this push waited for the one before (this push expected ${expected === null ? 'no branch' : short(expected)}); fetch, merge or rebase, and push again`);
    }
    const subject = await commitSubject(gitEnv, commit);
    progress.step(`release ${short(commit)} (${settings.branch}${subject ? `: ${subject}` : ''})`);
    return await input.withDb((db) => deployCommit(db, input, commit, gitEnv));
  } catch (err) {
    progress.error(`refused: ${messageOf(err)}`);
    progress.error(`the push is refused; ${input.settings.branch} was not moved`);
    return EXIT_REFUSE;
  }
}

async function deployCommit(db: Db, input: ReceiveInput, commit: string, gitEnv: Record<string, string>): Promise<number> {
  const { progress, settings } = input;
  let release = await getRelease(db, commit);
  let failure: unknown = null;
  if (release?.status === 'ready' && existsSync(release.path)) {
    progress.step(`release ${short(commit)} was built before and is ready (${release.path}); not rebuilt`);
    // Recorded before sources were kept: keep it now, so other nodes can build it too.
    const subdir = path.relative(path.join(input.paths.releasesDir, commit), release.path);
    if (!subdir.startsWith('..') && !path.isAbsolute(subdir) && !(await hasReleaseSource(db, release.id))) {
      const archive = await archiveCommit(gitEnv, commit);
      await storeSource(db, release.id, subdir, archive, input.env.HYDRA_NODE_ID ?? hostname());
      progress.step(`source: ${Math.ceil(archive.length / 1024)} KiB (tar.gz) kept in the database, so every node can build this release`);
    }
  } else {
    try {
      release = await buildAndRecord(db, input, commit, gitEnv);
    } catch (err) {
      failure = err;
    }
  }
  // Before the outcome, so the last line the pusher reads is the summary.
  await pruneReleases(db, input.paths.releasesDir, settings.keep, commit, progress).catch((err) => progress.error(`prune: ${messageOf(err)} (old releases were not removed; the push is not affected)`));
  if (failure !== null || release === null) {
    const step = failure instanceof DeployError ? failure.step : 'build';
    const reason = failure instanceof DeployError ? failure.message : `unexpected error: ${messageOf(failure)}`;
    if (failure instanceof DeployError && failure.findings.length > 0) for (const f of failure.findings) progress.error(`refused: ${f}`);
    else progress.error(`refused: ${step} failed: ${reason}`);
    progress.error(`release ${short(commit)} failed at ${step}: nothing was activated, the running release is untouched and ${settings.branch} was not moved`);
    return EXIT_REFUSE;
  }
  return activate(db, input, release);
}

async function buildAndRecord(db: Db, input: ReceiveInput, commit: string, gitEnv: Record<string, string>): Promise<Release> {
  const { progress } = input;
  const dir = path.join(input.paths.releasesDir, commit);
  const row = await beginRelease(db, commit, dir);
  try {
    // Leftovers of an interrupted or failed attempt must not leak into this build.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    progress.step(`checkout: ${commit} into ${dir}`);
    await checkoutCommit(gitEnv, commit, dir);
    const env = releaseEnv(input.env);
    const earlier = await readyReleases(db, commit);
    const previous = earlier.map((r) => ({ commit: r.commit, dir: path.join(input.paths.releasesDir, r.commit) })).find((p) => existsSync(p.dir)) ?? null;
    await installDependencies(dir, previous, env, progress);
    await buildRelease(dir, env, progress);
    const appRoot = appRootOf(dir);
    const services = await inspectRelease(dir, appRoot, env, progress);
    progress.step(`check: ${services.length} service(s) (${services.map((s) => `${s.id} ${s.version}`).join(', ')}): manifests valid, every consumed type can be produced`);
    const lockFile = path.join(dir, 'package-lock.json');
    const hashes = serviceHashes(appRoot, services, existsSync(lockFile) ? readFileSync(lockFile) : null);
    const before = earlier[0];
    const changes = Object.entries(hashes).map(([id, h]) => {
      const was = before?.serviceHashes[id];
      return `${id} ${h.slice(0, 12)} (${!before ? 'first release' : was === undefined ? 'new' : was === h ? 'unchanged' : 'changed'})`;
    });
    progress.step(`hashes${before ? ` vs release ${short(before.commit)}` : ''}: ${changes.join(', ')}`);
    const archive = await archiveCommit(gitEnv, commit);
    await storeSource(db, row.id, path.relative(dir, appRoot), archive, input.env.HYDRA_NODE_ID ?? hostname());
    progress.step(`source: ${Math.ceil(archive.length / 1024)} KiB (tar.gz) kept in the database, so every node can build this release`);
    const ready = await markReady(db, row.id, appRoot, hashes);
    progress.step(`release ${short(commit)} ready: ${appRoot}`);
    return ready;
  } catch (err) {
    const step = err instanceof DeployError ? err.step : 'build';
    await markFailed(db, row.id, `${step}: ${messageOf(err)}`);
    throw err;
  }
}

/** `600 s`, `1.5 s`. */
function seconds(ms: number): string {
  return `${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}

function describe(plan: ActivationPlan, deployments: Deployment[], waited: boolean, timeoutMs: number): string {
  const parts: string[] = [];
  for (const d of deployments) {
    const outcome = !waited ? 'recorded' : d.state === 'pending' || d.state === 'running' ? `still ${d.state} after ${seconds(timeoutMs)}` : d.state;
    parts.push(`${d.service} changed → deployment ${d.id} ${outcome}`);
  }
  if (plan.unchanged.length > 0) parts.push(`${plan.unchanged.join(', ')} unchanged`);
  if (plan.unscheduled.length > 0) parts.push(`${plan.unscheduled.join(', ')} not scheduled`);
  return parts.join('; ') || 'no services';
}

async function activate(db: Db, input: ReceiveInput, release: Release): Promise<number> {
  const { progress, settings } = input;
  const plan = await planActivation(db, release);
  let deployments: Deployment[];
  try {
    deployments = await startRollouts(db, release, plan, { maxParallel: settings.maxParallel, batchTimeoutMs: settings.batchTimeoutMs, healthWindowMs: settings.healthWindowMs, actor: `deploy@${hostname()}` }, progress);
  } catch (err) {
    progress.error(`refused: ${messageOf(err)}`);
    progress.error(`release ${short(release.commit)} is ready but nothing was activated; ${settings.branch} was not moved`);
    return EXIT_REFUSE;
  }
  for (const s of plan.unchanged) progress.step(`activate: ${s} unchanged; left running as it is`);
  for (const s of plan.unscheduled) progress.step(`activate: ${s} not scheduled; place it with 'hydra scheduler place ${s}'`);
  const wait = settings.wait && deployments.length > 0;
  if (wait) {
    progress.step(`waiting for ${deployments.length} rollout(s) (at most ${seconds(settings.waitTimeoutMs)}; the leader steps them, each node swaps its instances)`);
    deployments = await waitForRollouts(db, deployments, settings.waitTimeoutMs, progress);
  }
  const summary = `release ${short(release.commit)} ready: ${describe(plan, deployments, wait, settings.waitTimeoutMs)}`;
  const bad = deployments.filter((d) => d.state === 'failed' || d.state === 'rolled_back');
  if (bad.length > 0) {
    for (const d of bad) progress.error(`refused: deployment ${d.id} of ${d.service} ${d.state === 'failed' ? 'failed' : 'was rolled back'}: ${d.error ?? 'no reason recorded'}`);
    const good = deployments.filter((d) => d.state === 'succeeded');
    if (good.length > 0) progress.error(`${good.map((d) => d.service).join(', ')} already run(s) ${short(release.commit)}; 'hydra scheduler rollback <service>' takes one back`);
    progress.error(summary);
    progress.error(`the push is refused: ${settings.branch} was not moved. The release stays ready: push a fix, or push this commit again to retry the rollout`);
    return EXIT_REFUSE;
  }
  const unfinished = deployments.filter((d) => d.state === 'pending' || d.state === 'running');
  if (wait && unfinished.length > 0) progress.step(`${unfinished.map((d) => `deployment ${d.id}`).join(', ')} still going on; the push is accepted, follow it with 'hydra scheduler deployments'`);
  else if (!wait && deployments.length > 0) progress.step("not waiting for the rollouts (--no-wait); follow them with 'hydra scheduler deployments'");
  progress.step(summary);
  return EXIT_ACCEPT;
}
