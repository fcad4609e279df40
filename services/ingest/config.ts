/** The ingest service's settings, read from the environment once in `init` (rules in ../serviceEnv.ts). */
import { fleetFileFromEnv, intFromEnv } from '../serviceEnv.js';

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

export function readIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return {
    fleetFile: fleetFileFromEnv(env),
    publishTimeoutMs: intFromEnv(env, 'INGEST_PUBLISH_TIMEOUT_MS', 5_000, 10, 600_000),
  };
}
