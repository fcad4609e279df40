/**
 * The ingest service's settings, read from the environment once in `init`. A malformed variable
 * fails the start with its name and what is expected.
 */
import os from 'node:os';
import path from 'node:path';

export interface IngestConfig {
  /** The fleet file (device tokens): HYDRA_FLEET, else $HYDRA_HOME/fleet.json. */
  fleetFile: string;
  /**
   * How long one request may wait for its frames to be published (Redis down, or backpressure:
   * packets.raw over its high-water mark) before it is answered 503. A device retries later;
   * hanging until its own timeout would tie up its connection and tell it nothing.
   */
  publishTimeoutMs: number;
}

export class IngestConfigError extends Error {
  override readonly name = 'IngestConfigError';
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
  }
}

export function readIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return {
    fleetFile: fleetFile(env),
    publishTimeoutMs: int(env, 'INGEST_PUBLISH_TIMEOUT_MS', 5_000, 10, 600_000),
  };
}

/** Same rule as the node's and the simulator's: HYDRA_FLEET, else the fleet.json of the node's home. */
export function fleetFile(env: NodeJS.ProcessEnv): string {
  const explicit = env.HYDRA_FLEET?.trim();
  if (explicit) return path.resolve(explicit);
  const home = env.HYDRA_HOME?.trim();
  if (home && !path.isAbsolute(home)) throw new IngestConfigError('HYDRA_HOME', `'${home}' is not an absolute path; expected e.g. /var/lib/hydra`);
  // The node's own default home (supervisor/node/config.ts), so a bare `hydra node start` agrees.
  const base = home || (process.getuid?.() === 0 ? '/var/lib/hydra' : path.join(os.homedir(), '.hydra'));
  return path.join(base, 'fleet.json');
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new IngestConfigError(name, `'${raw}' is invalid; expected an integer from ${min} to ${max}`);
  return n;
}
