/**
 * The two environments of a push. git runs the hook with GIT_DIR (relative: '.') and, in
 * pre-receive, with the pushed objects in a quarantine directory (GIT_OBJECT_DIRECTORY,
 * GIT_ALTERNATE_OBJECT_DIRECTORIES, GIT_QUARANTINE_PATH) until the hook accepts them. git
 * commands reading the pushed commit need those; npm, the build and every other process in the
 * release directory must not see any of them (a `git` call in a build script would otherwise
 * act on the deploy repository instead of failing or finding nothing).
 */
import path from 'node:path';

/** Transport settings a `git+https` dependency may need; everything else GIT_* is repository state. */
const TRANSPORT = /^GIT_(SSL_|SSH|HTTP_|ASKPASS$|TERMINAL_PROMPT$|CONFIG_NOSYSTEM$)/;

/** The environment for npm, the build and the release's checks: no GIT_* repository variables. */
export function releaseEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (!k.startsWith('GIT_') || TRANSPORT.test(k))) out[k] = v;
  // npm's chatter that would only clutter the pusher's screen (no network calls for audit or funding).
  out.npm_config_audit = 'false';
  out.npm_config_fund = 'false';
  out.npm_config_update_notifier = 'false';
  out.npm_config_progress = 'false';
  return out;
}

/** The environment for git commands on the deploy repository: its absolute GIT_DIR plus the quarantine. */
export function repoEnv(env: NodeJS.ProcessEnv, repo: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (!k.startsWith('GIT_') || TRANSPORT.test(k))) out[k] = v;
  for (const k of ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']) if (env[k]) out[k] = env[k]!;
  out.GIT_DIR = repo;
  return out;
}

/** The repository a hook runs for: GIT_DIR (relative to the hook's working directory), else the given default. */
export function hookRepo(env: NodeJS.ProcessEnv, fallback: string): string {
  return env.GIT_DIR ? path.resolve(env.GIT_DIR) : fallback;
}
