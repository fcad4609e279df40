/**
 * Reading the pipeline services' environment, one rule per variable for all of them: a missing
 * or malformed value fails the service's start with the variable's name and what is expected.
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { resolveHome } from '../core/home.js';

/** DATABASE_URL; `purpose` says why the service needs it, for the error. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv, purpose: string): string {
  const url = env.DATABASE_URL ?? '';
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) {
    throw new ConfigError('DATABASE_URL', `${JSON.stringify(env.DATABASE_URL ?? null)} is not a PostgreSQL URL; expected postgres://user@host:port/db (${purpose})`);
  }
  return url;
}

/** HYDRA_FLEET, else the fleet.json of HYDRA_HOME, else of the node's default home: what ingest, parse and the simulator agree on. */
export function fleetFileFromEnv(env: NodeJS.ProcessEnv): string {
  const explicit = env.HYDRA_FLEET?.trim();
  if (explicit) return path.resolve(explicit);
  return path.join(resolveHome(env), 'fleet.json');
}

/** An integer variable within [min, max]; unset or empty takes the fallback. */
export function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `'${raw}' is invalid; expected an integer from ${min} to ${max}`);
  return n;
}
