/**
 * Settings of the deploy receiver: where things live under HYDRA_HOME and the options of
 * `hydra deploy receive` (which `hydra deploy init` writes into the hook, so a push runs with
 * the options the node was set up with). Each bad value is a UsageError naming the option.
 */
import path from 'node:path';
import { UsageError, type CommandOptions } from '../core/cli.js';
import { resolveHome } from '../core/home.js';

export interface DeployPaths {
  /** HYDRA_HOME. */
  home: string;
  /** `$HYDRA_HOME/releases`: one folder per commit. */
  releasesDir: string;
  /** `$HYDRA_HOME/deploy.git`: the bare repository pushes go to (unless --repo says otherwise). */
  defaultRepo: string;
  /** `$HYDRA_HOME/deploy.lock`: the hook holds it (flock) for the whole of a push. */
  lockFile: string;
}

export function deployPaths(env: Record<string, string | undefined> = process.env): DeployPaths {
  const home = resolveHome(env);
  return { home, releasesDir: path.join(home, 'releases'), defaultRepo: path.join(home, 'deploy.git'), lockFile: path.join(home, 'deploy.lock') };
}

export interface ReceiveSettings {
  /** The branch whose pushes deploy (default main); other refs are accepted untouched. */
  branch: string;
  /** Releases kept besides those still in use (default 5). */
  keep: number;
  /** Wait for the rollouts and refuse the push when one fails (default true). */
  wait: boolean;
  /** How long to wait for the rollouts before accepting the push with them still going (default 10 min). */
  waitTimeoutMs: number;
  /** Nodes updated at a time per service (default 1). */
  maxParallel: number;
  /** A batch of nodes not healthy within this time fails the rollout (default 120 s). */
  batchTimeoutMs: number;
  /** How long a batch must run healthy before the next (null: the scheduler's default, 5 s). */
  healthWindowMs: number | null;
}

export const RECEIVE_DEFAULTS: ReceiveSettings = { branch: 'main', keep: 5, wait: true, waitTimeoutMs: 600_000, maxParallel: 1, batchTimeoutMs: 120_000, healthWindowMs: null };

/** The options both `deploy init` (to write them into the hook) and `deploy receive` take. */
export const RECEIVE_OPTIONS: CommandOptions = {
  branch: { type: 'string' },
  keep: { type: 'string' },
  'no-wait': { type: 'boolean' },
  'wait-timeout': { type: 'string' },
  'max-parallel': { type: 'string' },
  'batch-timeout': { type: 'string' },
  'health-window': { type: 'string' },
};

export const RECEIVE_USAGE = '[--branch NAME (default main)] [--keep N (default 5)] [--no-wait] [--wait-timeout MS (default 600000)] [--max-parallel N (default 1)] [--batch-timeout MS (default 120000)] [--health-window MS (default 5000)]';

/** A branch name git accepts and a shell never needs to quote: letters, digits, `. _ - /`. */
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*\.lock$)[A-Za-z0-9._/-]{1,200}(?<![./])$/;

function whole(option: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${option}: '${raw}' is invalid; expected a whole number of at least ${min}`);
  return n;
}

export function receiveSettings(values: Record<string, string | boolean | undefined>): ReceiveSettings {
  const branch = values.branch === undefined ? RECEIVE_DEFAULTS.branch : String(values.branch);
  if (!BRANCH.test(branch)) throw new UsageError(`--branch: '${branch}' is invalid; expected a branch name such as main (letters, digits, '. _ - /')`);
  return {
    branch,
    keep: whole('keep', values.keep as string | undefined, RECEIVE_DEFAULTS.keep, 1),
    wait: values['no-wait'] !== true,
    waitTimeoutMs: whole('wait-timeout', values['wait-timeout'] as string | undefined, RECEIVE_DEFAULTS.waitTimeoutMs, 1),
    maxParallel: whole('max-parallel', values['max-parallel'] as string | undefined, RECEIVE_DEFAULTS.maxParallel, 1),
    batchTimeoutMs: whole('batch-timeout', values['batch-timeout'] as string | undefined, RECEIVE_DEFAULTS.batchTimeoutMs, 1),
    healthWindowMs: values['health-window'] === undefined ? null : whole('health-window', values['health-window'] as string, 0, 0),
  };
}

/** The settings as `deploy receive` arguments, only those that differ from the defaults (for the hook). */
export function receiveArgs(s: ReceiveSettings): string[] {
  const args: string[] = [];
  if (s.branch !== RECEIVE_DEFAULTS.branch) args.push('--branch', s.branch);
  if (s.keep !== RECEIVE_DEFAULTS.keep) args.push('--keep', String(s.keep));
  if (!s.wait) args.push('--no-wait');
  if (s.waitTimeoutMs !== RECEIVE_DEFAULTS.waitTimeoutMs) args.push('--wait-timeout', String(s.waitTimeoutMs));
  if (s.maxParallel !== RECEIVE_DEFAULTS.maxParallel) args.push('--max-parallel', String(s.maxParallel));
  if (s.batchTimeoutMs !== RECEIVE_DEFAULTS.batchTimeoutMs) args.push('--batch-timeout', String(s.batchTimeoutMs));
  if (s.healthWindowMs !== null) args.push('--health-window', String(s.healthWindowMs));
  return args;
}
