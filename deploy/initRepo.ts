/**
 * `hydra deploy init`: the node's bare git repository and its pre-receive hook. Idempotent: an
 * existing repository is kept as it is (its history and refs untouched), the hook is rewritten
 * only when its text changed, so boot.sh can run it on every boot.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeployError } from './errors.js';
import { hookEnv, renderHook } from './hookScript.js';

export interface InitInput {
  /** The bare repository (created with its parents when missing). */
  repo: string;
  branch: string;
  lockFile: string;
  releasesDir: string;
  envFile: string | null;
  receiveArgs: string[];
  env: Record<string, string | undefined>;
}

export interface InitResult {
  repo: string;
  hook: string;
  /** The repository did not exist before. */
  created: boolean;
  hookState: 'written' | 'updated' | 'unchanged';
  branch: string;
  envFile: string | null;
  /** Variables written into the hook (names only: values may be credentials). */
  variables: string[];
}

/** This hydra's launcher, `bin/hydra` at the package root (from dist/deploy/ or from the sources). */
const HYDRA_BIN = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../bin/hydra' : '../../bin/hydra', import.meta.url));

function git(args: string[], cwd?: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function hasFlock(): boolean {
  try {
    execFileSync('flock', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function initRepo(input: InitInput): InitResult {
  if (!hasFlock()) throw new DeployError('refs', "flock is missing (it serialises pushes); install util-linux ('apt-get install util-linux') and run 'hydra deploy init' again");
  if (input.envFile !== null && !existsSync(input.envFile)) throw new DeployError('refs', `--env-file: ${input.envFile} does not exist; create it (VAR=value lines) or leave the option out`);
  const created = !existsSync(path.join(input.repo, 'HEAD'));
  if (created && existsSync(input.repo) && readdirSync(input.repo).length > 0) {
    throw new DeployError('refs', `${input.repo} exists and is not a bare git repository; give another path with --repo`);
  }
  if (created) {
    mkdirSync(input.repo, { recursive: true });
    git(['init', '--quiet', '--bare', `--initial-branch=${input.branch}`, input.repo]);
  } else if (git(['rev-parse', '--is-bare-repository'], input.repo) !== 'true') {
    throw new DeployError('refs', `${input.repo} exists and is not a bare git repository; give another path with --repo`);
  }
  // A clone of the node's repository checks out the deploying branch.
  git(['symbolic-ref', 'HEAD', `refs/heads/${input.branch}`], input.repo);
  mkdirSync(input.releasesDir, { recursive: true });

  const env = hookEnv(input.env, path.dirname(process.execPath));
  const text = renderHook({ node: process.execPath, hydra: HYDRA_BIN, env, envFile: input.envFile, lockFile: input.lockFile, receiveArgs: input.receiveArgs });
  const hook = path.join(input.repo, 'hooks', 'pre-receive');
  const before = existsSync(hook) ? readFileSync(hook, 'utf8') : null;
  if (before !== text) {
    mkdirSync(path.dirname(hook), { recursive: true });
    // Written aside and renamed: a push arriving meanwhile runs the old hook or the new, never half of one.
    const tmp = `${hook}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o700 });
    renameSync(tmp, hook);
  }
  // 0700: the hook may hold DATABASE_URL with its password; the repository's owner runs it.
  chmodSync(hook, 0o700);
  return {
    repo: input.repo,
    hook,
    created,
    hookState: before === null ? 'written' : before === text ? 'unchanged' : 'updated',
    branch: input.branch,
    envFile: input.envFile,
    variables: Object.keys(env),
  };
}
