/**
 * The manifest validator: checks every field of a service manifest and fails on the first bad
 * one with a SpecError naming it and its value. `defineService` runs it at import time, the
 * runtime (`runtime/serviceMain.ts`) again for modules that skip that helper, and the release
 * check (`deploy/inspectChild.ts`) before a release goes live.
 *
 * It takes `parseTypeRef` from the envelope module directly, not from `channels/index.js`,
 * which would also load sql.js into every service process.
 */
import { parseTypeRef } from '../channels/envelope.js';
import { isSemver } from '../core/ids.js';
import { SpecError } from '../supervisor/errors.js';
import { paramsProblem, rolesProblem } from './functionParams.js';
import type { ServiceManifest } from './serviceTypes.js';

/** Who may call a route (apiToken.ts RouteAuth). */
const ROUTE_AUTH = new Set(['public', 'device', 'viewer', 'operator']);
const KNOWN_FIELDS = new Set(['name', 'version', 'mount', 'websocket', 'consumes', 'produces', 'http', 'init', 'handle', 'stop', 'health', 'functions', 'upcasters', 'batchSize', 'maxDeliveries']);
const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** The same rule as Channel's, so a manifest never declares a channel that cannot exist. */
const CHANNEL = /^[a-z][a-z0-9_.-]{0,127}$/;
const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const PATH_SEGMENT = /^(:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9._~!$&'()*+,;=@-]+)$/;

/** Checks every field of a manifest; the first bad one is a SpecError naming it and its value. */
export function validateManifest(value: unknown): asserts value is ServiceManifest {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SpecError('service', value, 'an object made by defineService({ name, version, … })');
  const m = value as Record<string, unknown>;
  // Unknown fields are refused: `consume:` for `consumes:` would otherwise start a service that reads nothing.
  for (const key of Object.keys(m)) if (!KNOWN_FIELDS.has(key)) throw new SpecError(key, m[key], `no such field; a manifest has ${[...KNOWN_FIELDS].join(', ')}`);
  if (typeof m.name !== 'string' || !NAME.test(m.name)) throw new SpecError('name', m.name, 'a lower-case id (a-z, 0-9, _ -, starting with a letter, at most 63 characters)');
  if (!isSemver(m.version)) throw new SpecError('version', m.version, 'a semantic version such as 1.0.0');
  const consumes = channelRefs('consumes', m.consumes);
  channelRefs('produces', m.produces);
  for (const [channel, refs] of Object.entries(consumes)) versionsWanted(channel, refs);
  for (const hook of ['init', 'handle', 'stop', 'health'] as const) {
    if (m[hook] !== undefined && typeof m[hook] !== 'function') throw new SpecError(hook, m[hook], 'a function');
  }
  if (Object.keys(consumes).length > 0 && typeof m.handle !== 'function') throw new SpecError('handle', m.handle, 'a function, since the service consumes channels');
  if (m.http !== undefined) routes(m.http);
  if (m.mount !== undefined && (typeof m.mount !== 'string' || !/^(\/[a-z0-9_-]+)+$/.test(m.mount))) throw new SpecError('mount', m.mount, 'a path such as /reports (lower-case segments, no trailing slash)');
  // Paths under /_ are the runtime's own (/_hydra/…): a mount there could shadow or expose them.
  if (m.mount !== undefined && m.mount.startsWith('/_')) throw new SpecError('mount', m.mount, "a path not starting with '/_' (paths under /_ are the runtime's own)");
  if (m.websocket !== undefined) websocketEndpoint(m.websocket);
  if (m.functions !== undefined) functions(m.functions);
  if (m.upcasters !== undefined) upcasterSteps(m.upcasters);
  positiveInt('batchSize', m.batchSize, 10_000);
  positiveInt('maxDeliveries', m.maxDeliveries, 1_000);
}

/**
 * The version wanted per type on a consumed channel (the consumer's `versions` option). One
 * version per type: with two, the channel could not know which one to convert to.
 */
export function versionsWanted(channel: string, refs: string[]): Record<string, number> {
  const versions: Record<string, number> = {};
  for (const ref of refs) {
    const { type, v } = parseTypeRef(ref);
    if (versions[type] !== undefined && versions[type] !== v) {
      throw new SpecError(`consumes['${channel}']`, refs, `one version per type (${type} is listed as @${versions[type]} and @${v})`);
    }
    versions[type] = v;
  }
  return versions;
}

// ---- field checks ------------------------------------------------------------------------

function channelRefs(field: 'consumes' | 'produces', value: unknown): Record<string, string[]> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SpecError(field, value, "an object of channel → ['type@v', …]");
  for (const [channel, refs] of Object.entries(value)) {
    if (!CHANNEL.test(channel)) throw new SpecError(`${field}['${channel}']`, channel, 'a channel name (lower case letters, digits, ". _ -", starting with a letter)');
    if (!Array.isArray(refs) || refs.length === 0) throw new SpecError(`${field}['${channel}']`, refs, "a non-empty array of 'type@v' strings");
    refs.forEach((ref: unknown, i) => {
      const at = `${field}['${channel}'][${i}]`;
      if (typeof ref !== 'string') throw new SpecError(at, ref, "a 'type@v' string such as packet.raw@1");
      try {
        parseTypeRef(ref);
      } catch {
        throw new SpecError(at, ref, "a 'type@v' string such as packet.raw@1");
      }
    });
  }
  return value as Record<string, string[]>;
}

function routes(value: unknown): void {
  if (!Array.isArray(value)) throw new SpecError('http', value, 'an array of { method, path, handler }');
  const seen = new Set<string>();
  value.forEach((route: unknown, i) => {
    if (route === null || typeof route !== 'object') throw new SpecError(`http[${i}]`, route, 'a route { method, path, handler }');
    const { method, path, handler, auth } = route as Record<string, unknown>;
    if (auth !== undefined && !ROUTE_AUTH.has(auth as string)) throw new SpecError(`http[${i}].auth`, auth, `one of ${[...ROUTE_AUTH].join(', ')} (default viewer for GET and HEAD, operator for the rest)`);
    if (typeof method !== 'string' || !METHODS.has(method)) throw new SpecError(`http[${i}].method`, method, `one of ${[...METHODS].join(', ')}`);
    if (typeof path !== 'string' || !validPath(path)) throw new SpecError(`http[${i}].path`, path, "a path below the service such as '/' or '/sites/:site'");
    if (typeof handler !== 'function') throw new SpecError(`http[${i}].handler`, handler, 'a function (req, ctx) => response');
    // Two routes that differ only in parameter names would shadow each other.
    const shape = `${method} ${path.replace(/:[^/]+/g, ':')}`;
    if (seen.has(shape)) throw new SpecError(`http[${i}].path`, path, `a route not already declared for ${method}`);
    seen.add(shape);
  });
}

function websocketEndpoint(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SpecError('websocket', value, 'an object { path, onConnection }');
  const { path, onConnection, auth } = value as Record<string, unknown>;
  if (auth !== undefined && !ROUTE_AUTH.has(auth as string)) throw new SpecError('websocket.auth', auth, `one of ${[...ROUTE_AUTH].join(', ')} (default viewer)`);
  // Literal segments only: the upgrade is matched by exact path, with no params to hand over.
  if (typeof path !== 'string' || path === '/' || !validPath(path) || path.includes(':')) throw new SpecError('websocket.path', path, "a literal path below the service such as '/ws'");
  if (typeof onConnection !== 'function') throw new SpecError('websocket.onConnection', onConnection, 'a function (socket, req, ctx) => void');
}

function functions(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SpecError('functions', value, 'an object of name → async (args, ctx) => result');
  for (const [name, fn] of Object.entries(value)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(name)) throw new SpecError(`functions.${name}`, name, 'a function name of letters, digits, _ and -, starting with a letter');
    if (typeof fn === 'function') continue;
    if (fn === null || typeof fn !== 'object' || Array.isArray(fn)) throw new SpecError(`functions.${name}`, fn, 'a function (args, ctx) => result, or { params, run }');
    const typed = fn as Record<string, unknown>;
    for (const key of Object.keys(typed)) if (!['params', 'description', 'roles', 'run'].includes(key)) throw new SpecError(`functions.${name}.${key}`, typed[key], 'no such field (params, description, roles, run)');
    if (typed.roles !== undefined) {
      const bad = rolesProblem(typed.roles);
      if (bad) throw new SpecError(`functions.${name}.roles`, bad[0], bad[1]);
    }
    if (typeof typed.run !== 'function') throw new SpecError(`functions.${name}.run`, typed.run, 'a function (args, ctx) => result');
    if (typed.description !== undefined && typeof typed.description !== 'string') throw new SpecError(`functions.${name}.description`, typed.description, 'a string');
    const problem = paramsProblem(typed.params);
    if (problem) throw new SpecError(`functions.${name}.${problem[0]}`, problem[1], problem[2]);
  }
}

function upcasterSteps(value: unknown): void {
  if (!Array.isArray(value)) throw new SpecError('upcasters', value, 'an array of { type, from, to, convert }');
  value.forEach((step: unknown, i) => {
    const at = `upcasters[${i}]`;
    if (step === null || typeof step !== 'object') throw new SpecError(at, step, 'a step { type, from, to, convert }');
    const { type, from, to, convert } = step as Record<string, unknown>;
    if (typeof type !== 'string' || !/^[a-z][a-z0-9_.-]{0,127}$/.test(type)) throw new SpecError(`${at}.type`, type, 'a message type such as packet.raw');
    for (const [field, v] of [['from', from], ['to', to]] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new SpecError(`${at}.${field}`, v, 'a version, a whole number of at least 1');
    }
    if (from === to) throw new SpecError(`${at}.to`, to, `a version other than from (${String(from)})`);
    if (typeof convert !== 'function') throw new SpecError(`${at}.convert`, convert, 'a function (body) => body');
  });
}

function validPath(path: string): boolean {
  if (path === '/') return true;
  if (!path.startsWith('/') || path.endsWith('/')) return false;
  return path.slice(1).split('/').every((segment) => PATH_SEGMENT.test(segment));
}

function positiveInt(field: string, value: unknown, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) throw new SpecError(field, value, `an integer from 1 to ${max}`);
}
