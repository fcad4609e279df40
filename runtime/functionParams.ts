/**
 * Typed parameters of service functions (docs/architecture.md "Services": functions have typed
 * parameters with defaults). A function declared with `params` is called only with arguments
 * that fit them: unknown names, missing required ones and wrong types are refused with the
 * parameter named, and defaults are filled in, before the function runs; so a cron job or an
 * operator that passes `"limit": "ten"` gets a 400 saying so instead of a half-run function.
 */

export type ParamType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';

/**
 * Who a function call comes as: `scheduler` (a cron job's run) or `operator` (`hydra scheduler
 * call`). The node that runs the instance passes it in the `x-hydra-role` header.
 */
export type CallerRole = 'scheduler' | 'operator';
export const CALLER_ROLES: readonly CallerRole[] = ['scheduler', 'operator'];
export const ROLE_HEADER = 'x-hydra-role';

/** What is wrong with a `roles` declaration, as [value, expected]; null when it is fine. */
export function rolesProblem(roles: unknown): [unknown, string] | null {
  const expected = `a non-empty array of ${CALLER_ROLES.join(', ')}`;
  if (!Array.isArray(roles) || roles.length === 0) return [roles, expected];
  for (const r of roles) if (!CALLER_ROLES.includes(r as CallerRole)) return [r, `one of ${CALLER_ROLES.join(', ')}`];
  return null;
}

export interface ParamSpec {
  type: ParamType;
  /** Used when the argument is absent; makes the parameter optional. */
  default?: unknown;
  /** Default: true when there is no default. */
  required?: boolean;
  description?: string;
}

const TYPES: ParamType[] = ['string', 'number', 'integer', 'boolean', 'object', 'array'];
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function fitsType(type: ParamType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
  }
}

function article(type: ParamType): string {
  return type === 'integer' || type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`;
}

/**
 * What is wrong with a `params` declaration, as [field, value, expected] for the SDK's
 * SpecError; null when it is fine.
 */
export function paramsProblem(params: unknown): [string, unknown, string] | null {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return ['params', params, 'an object of name → { type, default?, required?, description? }'];
  for (const [name, spec] of Object.entries(params)) {
    if (!NAME.test(name)) return [`params.${name}`, name, 'a parameter name of letters, digits and _, not starting with a digit'];
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return [`params.${name}`, spec, '{ type, default?, required?, description? }'];
    const s = spec as Record<string, unknown>;
    for (const key of Object.keys(s)) if (!['type', 'default', 'required', 'description'].includes(key)) return [`params.${name}.${key}`, s[key], 'no such field (type, default, required, description)'];
    if (!TYPES.includes(s.type as ParamType)) return [`params.${name}.type`, s.type, `one of ${TYPES.join(', ')}`];
    if (s.default !== undefined && !fitsType(s.type as ParamType, s.default)) return [`params.${name}.default`, s.default, `${article(s.type as ParamType)}, the parameter's type`];
    if (s.required !== undefined && typeof s.required !== 'boolean') return [`params.${name}.required`, s.required, 'true or false'];
    if (s.required === true && s.default !== undefined) return [`params.${name}.required`, s.required, 'false (or no default): a parameter with a default is optional'];
    if (s.description !== undefined && typeof s.description !== 'string') return [`params.${name}.description`, s.description, 'a string'];
  }
  return null;
}

export class ArgumentsError extends Error {
  override readonly name = 'ArgumentsError';
}

/**
 * The arguments a function runs with: `args` checked against `params`, defaults filled in
 * (copied, so a function changing its argument never changes the default). ArgumentsError
 * names every problem at once.
 */
export function bindArguments(fn: string, params: Record<string, ParamSpec>, args: Record<string, unknown>): Record<string, unknown> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(args)) {
    if (!Object.hasOwn(params, name)) problems.push(`unknown argument '${name}' (${fn} takes ${Object.keys(params).join(', ') || 'no arguments'})`);
  }
  for (const [name, spec] of Object.entries(params)) {
    const value = args[name];
    if (value === undefined) {
      if (spec.default !== undefined) out[name] = structuredClone(spec.default);
      else if (spec.required !== false) problems.push(`argument '${name}' is missing (${article(spec.type)})`);
      continue;
    }
    if (!fitsType(spec.type, value)) problems.push(`argument '${name}': expected ${article(spec.type)}, got ${JSON.stringify(value)}`);
    else out[name] = value;
  }
  if (problems.length > 0) throw new ArgumentsError(problems.join('; '));
  return out;
}
