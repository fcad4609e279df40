/**
 * Field-by-field validation of supervisor and child specs, after OTP's check_childspec: each
 * failure is a SpecError naming the field and the bad value (`children[2].restart: "always"
 * is invalid; expected permanent, transient or temporary`).
 */
import { FLAG_DEFAULTS, SHUTDOWN_MS } from './defaults.js';
import { CHILD_ID_RULE, isChildId } from '../core/ids.js';
import { SpecError } from './errors.js';
import type { ChildSpec, RestartType, Shutdown, Strategy, SupervisorFlags, SupervisorSpec } from './types.js';

const STRATEGIES: readonly Strategy[] = ['one_for_one', 'one_for_all', 'rest_for_one'];
const RESTARTS: readonly RestartType[] = ['permanent', 'transient', 'temporary'];


export function validateId(value: unknown, field: string): string {
  if (!isChildId(value)) throw new SpecError(field, value, `an id of ${CHILD_ID_RULE}`);
  return value;
}

export function validateStrategy(value: unknown, field: string): Strategy {
  if (!STRATEGIES.includes(value as Strategy)) throw new SpecError(field, value, STRATEGIES.join(', '));
  return value as Strategy;
}

export function validateRestart(value: unknown, field: string): RestartType {
  if (!RESTARTS.includes(value as RestartType)) throw new SpecError(field, value, 'permanent, transient or temporary');
  return value as RestartType;
}

export function validateShutdown(value: unknown, field: string): Shutdown {
  if (value === 'brutal_kill' || value === 'infinity') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  throw new SpecError(field, value, "'brutal_kill', 'infinity' or a timeout in ms (an integer >= 0)");
}

function integer(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new SpecError(field, value, `an integer >= ${min}`);
  return value;
}

export function validateSupervisorFlags(flags: unknown, field: string): Required<SupervisorFlags> {
  if (flags === null || typeof flags !== 'object') throw new SpecError(field, flags, 'an object with strategy, intensity and periodMs');
  const f = flags as Partial<SupervisorFlags>;
  return {
    strategy: validateStrategy(f.strategy, `${field}.strategy`),
    intensity: integer(f.intensity ?? FLAG_DEFAULTS.intensity, `${field}.intensity`, 0),
    periodMs: integer(f.periodMs ?? FLAG_DEFAULTS.periodMs, `${field}.periodMs`, 1),
    backoffInitialMs: integer(f.backoffInitialMs ?? FLAG_DEFAULTS.backoffInitialMs, `${field}.backoffInitialMs`, 0),
    backoffMaxMs: integer(f.backoffMaxMs ?? FLAG_DEFAULTS.backoffMaxMs, `${field}.backoffMaxMs`, 0),
    backoffResetMs: integer(f.backoffResetMs ?? FLAG_DEFAULTS.backoffResetMs, `${field}.backoffResetMs`, 0),
  };
}

export type ValidChildSpec = Required<Omit<ChildSpec, 'version'>> & Pick<ChildSpec, 'version'>;

export function validateChildSpec(spec: unknown, field: string): ValidChildSpec {
  if (spec === null || typeof spec !== 'object') throw new SpecError(field, spec, 'a child spec object');
  const s = spec as Partial<ChildSpec>;
  const kind = s.kind ?? 'worker';
  if (kind !== 'worker' && kind !== 'supervisor') throw new SpecError(`${field}.kind`, kind, "'worker' or 'supervisor'");
  if (typeof s.start !== 'function') throw new SpecError(`${field}.start`, s.start, 'a function that starts the child');
  if (s.version !== undefined && typeof s.version !== 'string') throw new SpecError(`${field}.version`, s.version, 'a string');
  return {
    id: validateId(s.id, `${field}.id`),
    start: s.start,
    restart: validateRestart(s.restart ?? 'permanent', `${field}.restart`),
    shutdown: validateShutdown(s.shutdown ?? (kind === 'supervisor' ? 'infinity' : SHUTDOWN_MS), `${field}.shutdown`),
    kind,
    version: s.version,
  };
}

export function validateSupervisorSpec(spec: unknown, field = 'supervisor'): { id: string; flags: Required<SupervisorFlags>; children: ValidChildSpec[] } {
  if (spec === null || typeof spec !== 'object') throw new SpecError(field, spec, 'a supervisor spec object');
  const s = spec as Partial<SupervisorSpec>;
  const id = validateId(s.id, `${field}.id`);
  const flags = validateSupervisorFlags(s, field);
  if (!Array.isArray(s.children)) throw new SpecError(`${field}.children`, s.children, 'an array of child specs');
  const children = s.children.map((c, i) => validateChildSpec(c, `${field}.children[${i}]`));
  const seen = new Set<string>();
  children.forEach((c, i) => {
    if (seen.has(c.id)) throw new SpecError(`${field}.children[${i}].id`, c.id, 'an id unique among its siblings (duplicate)');
    seen.add(c.id);
  });
  return { id, flags, children };
}
