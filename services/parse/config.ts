/** The parse service's settings, read from the environment once in `init` (rules in ../serviceEnv.ts). */
import { fleetFileFromEnv } from '../serviceEnv.js';

export interface ParseConfig {
  /** The fleet file with the site keys: the same file ingest reads its tokens from. */
  fleetFile: string;
}

export function readParseConfig(env: NodeJS.ProcessEnv = process.env): ParseConfig {
  return { fleetFile: fleetFileFromEnv(env) };
}
