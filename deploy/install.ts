/**
 * Installing a release's dependencies. When the lockfile is byte-identical to the previous
 * ready release's, that release's node_modules is copied as hard links (`cp -al`) instead of
 * running `npm ci`: it takes a fraction of a second and no network.
 *
 * Hard links rather than a symlink to the previous node_modules: each release owns a complete
 * tree of its own, so pruning the old release (rm -rf) leaves the new one whole; and Node
 * resolves a symlinked node_modules to its real path, so packages would load from (and caches
 * would write into) the other release's directory. Files are shared, directories are not; npm
 * ci is not run on the copy, so nothing rewrites a shared file in place.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeployError } from './errors.js';
import type { Progress } from './progress.js';
import { failureText, runStreamed } from './runStreamed.js';

const run = promisify(execFile);

export const INSTALL_TIMEOUT_MS = 15 * 60_000;

export interface PreviousRelease {
  commit: string;
  /** The release directory (holding package-lock.json and node_modules). */
  dir: string;
}

export type InstallOutcome = { kind: 'none' } | { kind: 'reused'; from: string; ms: number } | { kind: 'installed'; ms: number };

function sameFile(a: string, b: string): boolean {
  return existsSync(a) && existsSync(b) && readFileSync(a).equals(readFileSync(b));
}

export async function installDependencies(dir: string, previous: PreviousRelease | null, env: Record<string, string>, progress: Progress): Promise<InstallOutcome> {
  if (!existsSync(path.join(dir, 'package.json'))) {
    progress.step('install: no package.json; nothing to install');
    return { kind: 'none' };
  }
  const lock = path.join(dir, 'package-lock.json');
  if (!existsSync(lock)) throw new DeployError('install', "package-lock.json is missing, so the install would not be reproducible; run 'npm install', commit package-lock.json and push again");
  const started = Date.now();
  if (previous && existsSync(path.join(previous.dir, 'node_modules')) && sameFile(lock, path.join(previous.dir, 'package-lock.json'))) {
    try {
      await run('cp', ['-al', path.join(previous.dir, 'node_modules'), path.join(dir, 'node_modules')]);
      const ms = Date.now() - started;
      progress.step(`install: package-lock.json unchanged since release ${previous.commit.slice(0, 12)}: node_modules reused from it as hard links (${ms} ms); npm ci skipped`);
      return { kind: 'reused', from: previous.commit, ms };
    } catch (err) {
      // Another file system (no hard links across devices) or a vanished directory: install instead.
      progress.step(`install: could not reuse node_modules of ${previous.commit.slice(0, 12)} (${(err as Error).message.split('\n')[0]}); running npm ci`);
      await run('rm', ['-rf', path.join(dir, 'node_modules')]);
    }
  } else {
    progress.step(previous ? `install: package-lock.json differs from release ${previous.commit.slice(0, 12)}: npm ci` : 'install: no earlier release to reuse: npm ci');
  }
  const r = await runStreamed('npm', ['ci'], { cwd: dir, env, label: 'npm ci', progress, timeoutMs: INSTALL_TIMEOUT_MS });
  if (r.code !== 0) throw new DeployError('install', `${failureText('npm ci', r, INSTALL_TIMEOUT_MS)}; fix package.json/package-lock.json and push again`);
  const ms = Date.now() - started;
  progress.step(`install: npm ci done (${ms} ms)`);
  return { kind: 'installed', ms };
}
