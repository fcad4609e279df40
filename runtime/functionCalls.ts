/**
 * `/_hydra/functions`: `GET` lists the manifest's functions with their parameters, `POST
 * /_hydra/functions/<name>` with `{ "args": {…} }` calls one and answers `{ "result": … }`.
 * Typed functions have their roles and arguments checked first (403, 400). Served only on the
 * instance's private functions listener (functionsListener.ts), never on the port nginx proxies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { send, sendError } from './httpAnswer.js';
import { bodyWithinLimit } from './requestBody.js';
import { HttpError } from './httpError.js';
import type { ServiceContext, ServiceManifest } from './serviceTypes.js';
import { ArgumentsError, bindArguments, ROLE_HEADER, type CallerRole, type ParamSpec } from './functionParams.js';

/** Outside every mount point (mounts are lower-case paths without '_' at the start). */
export const FUNCTIONS_PATH = '/_hydra/functions';

type Functions = NonNullable<ServiceManifest['functions']>;

/** Answers a request whose path is FUNCTIONS_PATH or below it; `name` is the part after `FUNCTIONS_PATH/` ('' for the list). */
export async function serveFunctions(raw: IncomingMessage, res: ServerResponse, fns: Functions, ctx: ServiceContext, state: unknown, name: string): Promise<void> {
  const method = raw.method ?? 'GET';
  if (name === '') {
    if (method !== 'GET') return sendError(res, 405, `the function list is read with GET, not ${method}`, { allow: 'GET' });
    return send(res, 200, { service: ctx.service, version: ctx.version, functions: describeFunctions(fns) });
  }
  const fn = Object.hasOwn(fns, name) ? fns[name] : undefined;
  if (!fn) return sendError(res, 404, `no function '${name}' in service ${ctx.service} (functions: ${Object.keys(fns).join(', ') || 'none'})`);
  if (method !== 'POST') return sendError(res, 405, `functions are called with POST, not ${method}`, { allow: 'POST' });
  const body = await bodyWithinLimit(raw, res);
  if (body === null) return;
  const args = argsOf(body);
  let result: unknown;
  if (typeof fn === 'function') result = await fn(args, ctx, state);
  else {
    const role = raw.headers[ROLE_HEADER];
    if (fn.roles && !fn.roles.includes(role as CallerRole)) {
      throw new HttpError(403, `${name} may be called as ${fn.roles.join(' or ')} only; this call came as ${typeof role === 'string' && role !== '' ? role : 'no role'}`);
    }
    let bound: Record<string, unknown>;
    try {
      bound = bindArguments(name, fn.params, args);
    } catch (err) {
      if (err instanceof ArgumentsError) throw new HttpError(400, `${name}: ${err.message}`);
      throw err;
    }
    result = await fn.run(bound, ctx, state);
  }
  send(res, 200, { result: result ?? null });
}

/** `{ "args": {…} }` → the args; an empty body is no arguments. */
function argsOf(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let args: unknown;
  try {
    args = (JSON.parse(body.toString('utf8')) as { args?: unknown }).args ?? {};
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON (${(err as Error).message}); expected {"args": {…}}`);
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new HttpError(400, 'args must be a JSON object');
  return args as Record<string, unknown>;
}

/** What `GET /_hydra/functions` answers: each function with its parameters (plain functions take any object). */
function describeFunctions(fns: Functions): Array<{ name: string; description: string | null; params: Record<string, ParamSpec> | null; roles: CallerRole[] | null }> {
  return Object.entries(fns).map(([name, fn]) =>
    typeof fn === 'function' ? { name, description: null, params: null, roles: null } : { name, description: fn.description ?? null, params: fn.params, roles: fn.roles ?? null },
  );
}
