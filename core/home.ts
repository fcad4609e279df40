/**
 * Where a node keeps its state (HYDRA_HOME): one rule for the daemon, the deploy hook, the
 * services and the CLI, so a bare `hydra …` command and the node it talks to always agree.
 */
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';

/** /var/lib/hydra for root, ~/.hydra for anyone else, unless HYDRA_HOME (absolute) says otherwise. */
export function resolveHome(env: NodeJS.ProcessEnv = process.env): string {
  const v = env.HYDRA_HOME?.trim();
  if (v === undefined || v === '') return process.getuid?.() === 0 ? '/var/lib/hydra' : path.join(os.homedir(), '.hydra');
  if (!path.isAbsolute(v)) throw new ConfigError('HYDRA_HOME', `'${v}' is not an absolute path; expected e.g. /var/lib/hydra`);
  return path.normalize(v);
}
