/**
 * The parse service's settings, read from the environment once in `init`: where the fleet file
 * (the site keys) is. A malformed variable fails the start with its name.
 */
import os from 'node:os';
import path from 'node:path';

export interface ParseConfig {
  /** HYDRA_FLEET, else $HYDRA_HOME/fleet.json: the same file ingest reads its tokens from. */
  fleetFile: string;
}

export class ParseConfigError extends Error {
  override readonly name = 'ParseConfigError';
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
  }
}

export function readParseConfig(env: NodeJS.ProcessEnv = process.env): ParseConfig {
  const explicit = env.HYDRA_FLEET?.trim();
  if (explicit) return { fleetFile: path.resolve(explicit) };
  const home = env.HYDRA_HOME?.trim();
  if (home && !path.isAbsolute(home)) throw new ParseConfigError('HYDRA_HOME', `'${home}' is not an absolute path; expected e.g. /var/lib/hydra`);
  // The node's own default home (supervisor/node/config.ts), so a bare `hydra node start` agrees.
  const base = home || (process.getuid?.() === 0 ? '/var/lib/hydra' : path.join(os.homedir(), '.hydra'));
  return { fleetFile: path.join(base, 'fleet.json') };
}
