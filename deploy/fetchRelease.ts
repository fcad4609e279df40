/**
 * Building on this node a release that was pushed to another one: its source comes out of the
 * database (releaseSource.ts), is extracted into a staging directory beside the node's releases,
 * installed (node_modules reused from a local release with the same lockfile, else npm ci) and
 * built exactly as the receiver did, then checked: the per-service hashes of this build must be
 * the ones the receiver recorded, or the node would run code nobody pushed (a build that is not
 * reproducible, a different toolchain). Only a complete, checked build is renamed to
 * `releases/<commit>`, so a crash half-way leaves nothing a later start could mistake for a release.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Db } from '../core/pgTransaction.js';
import { appRootOf, buildRelease } from './build.js';
import { releaseEnv } from './buildEnv.js';
import { DeployError } from './errors.js';
import { inspectRelease } from './inspect.js';
import { installDependencies, type PreviousRelease } from './install.js';
import { short, type Progress } from './progress.js';
import { loadSource } from './releaseSource.js';
import { serviceHashes } from './serviceHashes.js';

const run = promisify(execFile);

/** Written into a release directory this node built from the database (not from a push). */
export const FETCHED_MARKER = '.hydra-fetched.json';

export interface FetchedRelease {
  commit: string;
  /** The app root on this node. */
  appRoot: string;
  /** Where the push was built (the receiver's node id). */
  builtOn: string;
  ms: number;
}

/** The app root of `commit` under this node's releases directory, when a complete build is there. */
export function localAppRoot(releasesDir: string, commit: string): string | null {
  const dir = path.join(releasesDir, commit);
  if (!existsSync(dir)) return null;
  try {
    return appRootOf(dir);
  } catch {
    return null;
  }
}

/** A local release with node_modules and the same package-lock.json, newest first: its modules are reused. */
function reusable(releasesDir: string, exceptCommit: string): PreviousRelease[] {
  if (!existsSync(releasesDir)) return [];
  return readdirSync(releasesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== exceptCommit && /^[0-9a-f]{40,64}$/.test(e.name))
    .map((e) => ({ commit: e.name, dir: path.join(releasesDir, e.name) }))
    .filter((p) => existsSync(path.join(p.dir, 'node_modules')));
}

function sameLock(a: string, b: string): boolean {
  const fa = path.join(a, 'package-lock.json');
  const fb = path.join(b, 'package-lock.json');
  return existsSync(fa) && existsSync(fb) && readFileSync(fa).equals(readFileSync(fb));
}

export async function fetchRelease(db: Db, commit: string, releasesDir: string, env: NodeJS.ProcessEnv, progress: Progress): Promise<FetchedRelease> {
  const started = Date.now();
  const source = await loadSource(db, commit);
  progress.step(`fetch: release ${short(commit)} (built on ${source.builtOn}): ${Math.ceil(source.archive.length / 1024)} KiB of source from the database`);
  mkdirSync(releasesDir, { recursive: true });
  const staging = path.join(releasesDir, `.fetch-${commit}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const archive = path.join(releasesDir, `.fetch-${commit}-${process.pid}.tar.gz`);
    writeFileSync(archive, source.archive);
    try {
      await run('tar', ['-xzf', archive, '-C', staging]);
    } catch (err) {
      throw new DeployError('fetch', `could not extract the source of ${short(commit)}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      rmSync(archive, { force: true });
    }
    const buildEnv = releaseEnv(env);
    const previous = reusable(releasesDir, commit).find((p) => sameLock(p.dir, staging)) ?? null;
    await installDependencies(staging, previous, buildEnv, progress);
    await buildRelease(staging, buildEnv, progress);
    const appRoot = appRootOf(staging);
    if (path.relative(staging, appRoot) !== source.appSubdir) {
      throw new DeployError('fetch', `this node's build of ${short(commit)} put its app root at '${path.relative(staging, appRoot)}', the receiver's at '${source.appSubdir}'; make the build deterministic`);
    }
    const services = await inspectRelease(staging, appRoot, buildEnv, progress);
    const lock = path.join(staging, 'package-lock.json');
    const hashes = serviceHashes(appRoot, services, existsSync(lock) ? readFileSync(lock) : null);
    const differ = Object.keys({ ...hashes, ...source.serviceHashes }).filter((id) => hashes[id] !== source.serviceHashes[id]);
    if (differ.length > 0) {
      throw new DeployError(
        'fetch',
        `this node's build of ${short(commit)} differs from the one built on ${source.builtOn} in ${differ.map((id) => `${id} (${hashes[id]?.slice(0, 12) ?? 'missing'} here, ${source.serviceHashes[id]?.slice(0, 12) ?? 'missing'} there)`).join(', ')}; the build is not reproducible (check the toolchain versions and the lockfile), so it is not run here`,
      );
    }
    writeFileSync(path.join(staging, FETCHED_MARKER), `${JSON.stringify({ commit, builtOn: source.builtOn, sha256: source.sha256, fetchedAt: new Date().toISOString() })}\n`);
    const dir = path.join(releasesDir, commit);
    // A leftover of an interrupted fetch or push of the same commit never holds a checked build.
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    const ms = Date.now() - started;
    progress.step(`fetch: release ${short(commit)} built and checked here in ${ms} ms (${services.length} service(s), hashes match ${source.builtOn}'s build)`);
    return { commit, appRoot: path.join(dir, source.appSubdir), builtOn: source.builtOn, ms };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Removes release directories this node fetched that nothing uses any more: not in `inUse`
 * and not among the `keep` newest. Releases pushed to this node are left to the receiver's prune.
 */
export function pruneFetched(releasesDir: string, inUse: Set<string>, newestReady: string[], keep: number): string[] {
  if (!existsSync(releasesDir)) return [];
  const kept = new Set([...inUse, ...newestReady.slice(0, keep)]);
  const removed: string[] = [];
  for (const name of readdirSync(releasesDir)) {
    const dir = path.join(releasesDir, name);
    if (name.startsWith('.fetch-') && !name.endsWith(`-${process.pid}`) && !name.endsWith(`-${process.pid}.tar.gz`)) {
      // Staging of a fetch a crash interrupted.
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (kept.has(name) || !existsSync(path.join(dir, FETCHED_MARKER))) continue;
    rmSync(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
