/**
 * Building a release (`npm run build`, when package.json has a build script) and finding its
 * app root: the folder holding the built `services/topology.json` (dist/ for a TypeScript
 * app such as Hydra itself; the release directory for an app committed as plain JavaScript).
 * Nodes resolve every service module and catalog entry of the release from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DeployError } from './errors.js';
import type { Progress } from './progress.js';
import { failureText, runStreamed } from './runStreamed.js';

export const BUILD_TIMEOUT_MS = 15 * 60_000;

function hasBuildScript(dir: string): boolean {
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) return false;
  let pkg: { scripts?: Record<string, unknown> };
  try {
    pkg = JSON.parse(readFileSync(file, 'utf8')) as typeof pkg;
  } catch (err) {
    throw new DeployError('build', `package.json is not valid JSON (${(err as Error).message}); fix it and push again`);
  }
  return typeof pkg.scripts?.build === 'string';
}

export async function buildRelease(dir: string, env: Record<string, string>, progress: Progress): Promise<void> {
  if (!hasBuildScript(dir)) {
    progress.step('build: package.json has no build script; the committed files are the release');
    return;
  }
  progress.step('build: npm run build');
  const started = Date.now();
  const r = await runStreamed('npm', ['run', 'build'], { cwd: dir, env, label: 'build', progress, timeoutMs: BUILD_TIMEOUT_MS });
  if (r.code !== 0) throw new DeployError('build', `${failureText('npm run build', r, BUILD_TIMEOUT_MS)}; fix the build and push again`);
  progress.step(`build: done (${Date.now() - started} ms)`);
}

/** dist/ when the build put the catalog there, else the release directory itself. */
export function appRootOf(dir: string): string {
  for (const root of [path.join(dir, 'dist'), dir]) if (existsSync(path.join(root, 'services', 'topology.json'))) return root;
  throw new DeployError('validate', 'no services/topology.json in the build output (dist/) nor in the commit: a release must name its services there; add it and push again');
}
