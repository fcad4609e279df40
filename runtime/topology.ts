/**
 * The topology file: the static services of a node, as JSON. Parsed and validated here into
 * plain data (no processes, no ports) so the rules can be unit-tested; servicesTree.ts turns the
 * result into the `services` supervisor's spec. Every error is a SpecError naming the field path
 * (`services[2].supervisor.strategy`) and the bad value.
 *
 * ```json
 * { "strategy": "one_for_one", "intensity": 10, "periodMs": 60000,
 *   "services": [
 *     { "id": "ingest", "module": "services/ingest/index.js", "instances": 2, "env": { "A": "1" } },
 *     { "id": "pipeline", "supervisor": { "strategy": "rest_for_one", "services": [ … ] } } ] }
 * ```
 */
import { isSemver } from '../core/ids.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { SpecError } from '../supervisor/errors.js';
import { ConfigError } from '../core/errors.js';
import { ENV } from '../supervisor/ipc.js';
import type { RestartType, Shutdown, SupervisorFlags } from '../supervisor/types.js';
import { validateSupervisorFlags } from '../supervisor/validateSpec.js';

export interface TopologyService {
  kind: 'service';
  id: string;
  /** Absolute path of the service module. */
  module: string;
  instances: number;
  version?: string;
  restart?: RestartType;
  shutdown?: Shutdown;
  startTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** Extra node flags for the instance, e.g. ["--max-old-space-size=256"]. */
  nodeArgs?: string[];
  env: Record<string, string>;
}

export interface TopologyGroup {
  kind: 'supervisor';
  id: string;
  flags: SupervisorFlags;
  entries: TopologyEntry[];
}

export type TopologyEntry = TopologyService | TopologyGroup;

export interface Topology {
  flags: SupervisorFlags;
  entries: TopologyEntry[];
}

/**
 * Defaults for a supervisor of services: more lenient than OTP's 1 restart in 5 s because the
 * supervisor's backoff already spaces a crash loop out; 10 in a minute still gives up (and
 * escalates) on a service that cannot stay up.
 */
export const SERVICES_DEFAULT_FLAGS = { strategy: 'one_for_one', intensity: 10, periodMs: 60_000 } as const;

const FLAG_FIELDS = ['strategy', 'intensity', 'periodMs', 'backoffInitialMs', 'backoffMaxMs', 'backoffResetMs'];
const SUPERVISOR_FIELDS = [...FLAG_FIELDS, 'services'];
const SERVICE_FIELDS = ['id', 'module', 'instances', 'version', 'restart', 'shutdown', 'startTimeoutMs', 'heartbeatTimeoutMs', 'nodeArgs', 'env'];
const GROUP_FIELDS = ['id', 'supervisor'];
/** No '#' or '/': instances are named `<id>#<i>` and children addressed by `a/b/c` paths. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the supervisor for each instance; a topology value would be silently overridden. */
const RESERVED_ENV: string[] = Object.values(ENV);

export interface ParseOptions {
  /** Folder relative module paths are resolved against (the topology file's folder). */
  dir: string;
  /** Injected for tests; default fs.existsSync. */
  exists?: (file: string) => boolean;
}

interface Ctx {
  dir: string;
  exists: (file: string) => boolean;
  /** Service id → field path of its first use: ids are unique node-wide (they name Redis consumers). */
  seen: Map<string, string>;
}

/** Validates a parsed topology document. */
export function parseTopology(raw: unknown, options: ParseOptions): Topology {
  const ctx: Ctx = { dir: options.dir, exists: options.exists ?? existsSync, seen: new Map() };
  return parseSupervisor(raw, '', ctx);
}

/**
 * The reference pipeline (ingest → parse → state → report over Redis channels): what a node
 * runs when it has no topology file of its own. Shipped beside the services (copied into dist/
 * by the build).
 */
export const DEFAULT_TOPOLOGY = fileURLToPath(new URL('../services/topology.json', import.meta.url));

/** Reads and validates a topology file; a missing file means the reference pipeline unless `required`. */
export function readTopology(file: string, required: boolean): Topology {
  if (!existsSync(file)) {
    if (required) throw new ConfigError('HYDRA_TOPOLOGY', `${file} does not exist; expected a topology JSON file`);
    return readTopology(DEFAULT_TOPOLOGY, true);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('HYDRA_TOPOLOGY', `${file} is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return parseTopology(raw, { dir: path.dirname(file) });
}

/** Counts the service instances (leaves) of a topology. */
export function instanceCount(entries: TopologyEntry[]): number {
  return entries.reduce((n, e) => n + (e.kind === 'service' ? e.instances : instanceCount(e.entries)), 0);
}

// --- sections -----------------------------------------------------------------------------

function at(prefix: string, field: string): string {
  return prefix === '' ? field : `${prefix}.${field}`;
}

function object(raw: unknown, field: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SpecError(field || 'topology', raw, 'a JSON object');
  return raw as Record<string, unknown>;
}

function onlyFields(obj: Record<string, unknown>, allowed: string[], prefix: string, what: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new SpecError(at(prefix, key), obj[key], `no such field in ${what} (fields: ${allowed.join(', ')})`);
  }
}

function parseSupervisor(raw: unknown, prefix: string, ctx: Ctx): Topology {
  const obj = object(raw, prefix);
  onlyFields(obj, SUPERVISOR_FIELDS, prefix, 'a supervisor');
  const given = Object.fromEntries(FLAG_FIELDS.filter((f) => obj[f] !== undefined).map((f) => [f, obj[f]]));
  const flags = validateSupervisorFlags({ ...SERVICES_DEFAULT_FLAGS, ...given }, prefix || 'topology');
  const listField = at(prefix, 'services');
  if (!Array.isArray(obj.services)) throw new SpecError(listField, obj.services, 'an array of service or supervisor entries');
  const entries = obj.services.map((entry, i) => parseEntry(entry, `${listField}[${i}]`, ctx));
  return { flags, entries };
}

function parseEntry(raw: unknown, field: string, ctx: Ctx): TopologyEntry {
  const obj = object(raw, field);
  const id = parseId(obj.id, at(field, 'id'), ctx);
  if ('supervisor' in obj) {
    onlyFields(obj, GROUP_FIELDS, field, 'a supervisor entry');
    const { flags, entries } = parseSupervisor(obj.supervisor, at(field, 'supervisor'), ctx);
    return { kind: 'supervisor', id, flags, entries };
  }
  onlyFields(obj, SERVICE_FIELDS, field, 'a service entry');
  const service: TopologyService = {
    kind: 'service',
    id,
    module: parseModule(obj.module, at(field, 'module'), ctx),
    instances: obj.instances === undefined ? 1 : positiveInt(obj.instances, at(field, 'instances'), 'a whole number of instances, at least 1'),
    env: parseEnv(obj.env, at(field, 'env')),
  };
  if (obj.version !== undefined) {
    if (!isSemver(obj.version)) throw new SpecError(at(field, 'version'), obj.version, 'a semver version such as 1.2.0');
    service.version = obj.version;
  }
  if (obj.restart !== undefined) {
    if (obj.restart !== 'permanent' && obj.restart !== 'transient' && obj.restart !== 'temporary') {
      throw new SpecError(at(field, 'restart'), obj.restart, "'permanent', 'transient' or 'temporary'");
    }
    service.restart = obj.restart;
  }
  if (obj.shutdown !== undefined) {
    service.shutdown = obj.shutdown === 'brutal_kill' ? 'brutal_kill' : positiveInt(obj.shutdown, at(field, 'shutdown'), "'brutal_kill' or a timeout in ms (a whole number above 0)");
  }
  if (obj.startTimeoutMs !== undefined) service.startTimeoutMs = positiveInt(obj.startTimeoutMs, at(field, 'startTimeoutMs'), 'a timeout in ms (a whole number above 0)');
  if (obj.heartbeatTimeoutMs !== undefined) service.heartbeatTimeoutMs = positiveInt(obj.heartbeatTimeoutMs, at(field, 'heartbeatTimeoutMs'), 'a timeout in ms (a whole number above 0)');
  if (obj.nodeArgs !== undefined) {
    const args = obj.nodeArgs;
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' && a !== '') || (args.length > 0 && !String(args[0]).startsWith('-'))) {
      throw new SpecError(at(field, 'nodeArgs'), args, 'an array of node options such as ["--max-old-space-size=256"] or ["--import", "tsx"]');
    }
    service.nodeArgs = obj.nodeArgs as string[];
  }
  return service;
}

function parseId(raw: unknown, field: string, ctx: Ctx): string {
  if (typeof raw !== 'string' || !ID.test(raw)) throw new SpecError(field, raw, "an id of letters, digits and '_ . @ : -' (no '#' or '/'), at most 64 characters");
  const first = ctx.seen.get(raw);
  if (first !== undefined) throw new SpecError(field, raw, `an id not used elsewhere in the topology (already used at ${first})`);
  ctx.seen.set(raw, field);
  return raw;
}

function parseModule(raw: unknown, field: string, ctx: Ctx): string {
  if (typeof raw !== 'string' || raw === '') throw new SpecError(field, raw, "the service module's path, relative to the topology file's folder or absolute");
  const file = path.resolve(ctx.dir, raw);
  if (ctx.exists(file)) return file;
  // Topologies name the compiled `.js` module; from the TypeScript sources (tests, tsx) the
  // `.ts` beside it is the same module, as tsx itself resolves it.
  const source = file.replace(/\.js$/, '.ts');
  if (source !== file && ctx.exists(source)) return source;
  throw new SpecError(field, raw, `a module file that exists (${file} does not)`);
}

function positiveInt(raw: unknown, field: string, expected: string): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1) throw new SpecError(field, raw, expected);
  return raw;
}

function parseEnv(raw: unknown, field: string): Record<string, string> {
  if (raw === undefined) return {};
  const obj = object(raw, field);
  for (const [name, value] of Object.entries(obj)) {
    if (!ENV_NAME.test(name)) throw new SpecError(`${field}.${name}`, value, 'a variable name of letters, digits and _');
    if (RESERVED_ENV.includes(name)) throw new SpecError(`${field}.${name}`, value, `no value: ${name} is set by the supervisor`);
    if (typeof value !== 'string') throw new SpecError(`${field}.${name}`, value, 'a string (quote numbers)');
  }
  return obj as Record<string, string>;
}
