/**
 * Service specs (table service_specs): what should run, fleet-wide. `putServiceSpec` validates
 * every field and names the bad one (SpecInputError), so the CLI can print it as is. A spec that
 * cannot be placed (constraints no node meets, more instances than capacity) is stored all the
 * same: the planner reports it unplaceable with the reason, it is never refused or dropped here.
 */
import { isServiceName, SERVICE_NAME_RULE } from '../core/ids.js';
import { SpecInputError, UnknownServiceError } from './errors.js';
import { recordAudit } from './store/audit.js';
import type { Db } from '../core/pgTransaction.js';
import type { ServiceSpec } from './types.js';

export interface ServiceSpecInput {
  name: string;
  instances?: number;
  constraints?: Record<string, string>;
  pinnedNode?: string | null;
  cpu?: number;
  memoryMb?: number;
  spread?: string | null;
  releaseId?: number | null;
  module?: string | null;
  config?: Record<string, string>;
}

interface SpecRow {
  name: string;
  instances: number;
  constraints: Record<string, string>;
  pinned_node: string | null;
  cpu: string;
  memory_mb: number;
  spread: string | null;
  release_id: string | null;
  module: string | null;
  config: Record<string, string>;
  generation: string;
}

/** Same rule as a topology service id: it becomes the child id `<name>#<i>` and the consumer group. */
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function toSpec(r: SpecRow): ServiceSpec {
  return {
    name: r.name,
    instances: r.instances,
    constraints: r.constraints,
    pinnedNode: r.pinned_node,
    cpu: Number(r.cpu),
    memoryMb: r.memory_mb,
    spread: r.spread,
    releaseId: r.release_id === null ? null : Number(r.release_id),
    module: r.module,
    config: r.config,
    generation: Number(r.generation),
  };
}

export function validateServiceName(name: unknown): string {
  if (!isServiceName(name)) {
    throw new SpecInputError('name', name, SERVICE_NAME_RULE);
  }
  return name;
}

function labels(field: string, raw: unknown, valueRule: RegExp, what: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SpecInputError(field, raw, 'an object of key → value');
  for (const [k, v] of Object.entries(raw)) {
    if (!LABEL.test(k) && !(valueRule === ENV_NAME && ENV_NAME.test(k))) throw new SpecInputError(`${field}.${k}`, k, `a ${what} key of letters, digits and '. _ / -'`);
    if (typeof v !== 'string') throw new SpecInputError(`${field}.${k}`, v, 'a string');
  }
  return raw as Record<string, string>;
}

/** Checks an input; returns it with every field present (defaults for what was not given). */
export function validateSpecInput(input: ServiceSpecInput): Required<ServiceSpecInput> {
  const name = validateServiceName(input.name);
  const instances = input.instances ?? 1;
  if (!Number.isSafeInteger(instances) || instances < 0) throw new SpecInputError('instances', instances, 'a whole number of at least 0');
  const cpu = input.cpu ?? 0;
  if (typeof cpu !== 'number' || !Number.isFinite(cpu) || cpu < 0) throw new SpecInputError('cpu', cpu, 'a number of cores of at least 0, e.g. 0.5');
  const memoryMb = input.memoryMb ?? 0;
  if (!Number.isSafeInteger(memoryMb) || memoryMb < 0) throw new SpecInputError('memoryMb', memoryMb, 'a whole number of MiB of at least 0');
  const spread = input.spread ?? null;
  if (spread !== null && !LABEL.test(spread)) throw new SpecInputError('spread', spread, 'a label key such as rack');
  const pinnedNode = input.pinnedNode ?? null;
  if (pinnedNode !== null && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(pinnedNode)) throw new SpecInputError('pinnedNode', pinnedNode, 'a node id');
  const moduleName = input.module ?? null;
  if (moduleName !== null && (typeof moduleName !== 'string' || moduleName === '' || moduleName.startsWith('/') || moduleName.split('/').includes('..'))) {
    throw new SpecInputError('module', moduleName, "a module path relative to the app root, without '..', e.g. services/parse/index.js");
  }
  const releaseId = input.releaseId ?? null;
  if (releaseId !== null && (!Number.isSafeInteger(releaseId) || releaseId < 1)) throw new SpecInputError('releaseId', releaseId, 'a release id');
  return {
    name,
    instances,
    constraints: labels('constraints', input.constraints ?? {}, LABEL, 'label'),
    pinnedNode,
    cpu,
    memoryMb,
    spread,
    releaseId,
    module: moduleName,
    config: labels('config', input.config ?? {}, ENV_NAME, 'environment variable'),
  };
}

/**
 * Creates or replaces a spec (fields not given take their defaults) and audits it; bumps the
 * generation when anything changed. A pin to a node that is not registered is refused here
 * (the foreign key would refuse it less clearly).
 */
export async function putServiceSpec(db: Db, input: ServiceSpecInput, actor: string): Promise<ServiceSpec> {
  const s = validateSpecInput(input);
  if (s.pinnedNode !== null) {
    const n = await db.query('SELECT 1 FROM nodes WHERE id = $1', [s.pinnedNode]);
    if (n.rowCount === 0) throw new SpecInputError('pinnedNode', s.pinnedNode, "a registered node id (see 'hydra scheduler nodes')");
  }
  const r = await db.query<SpecRow>(
    `INSERT INTO service_specs AS s (name, instances, constraints, pinned_node, cpu, memory_mb, spread, release_id, module, config)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (name) DO UPDATE SET
       instances = EXCLUDED.instances, constraints = EXCLUDED.constraints, pinned_node = EXCLUDED.pinned_node,
       cpu = EXCLUDED.cpu, memory_mb = EXCLUDED.memory_mb, spread = EXCLUDED.spread, release_id = EXCLUDED.release_id,
       module = EXCLUDED.module, config = EXCLUDED.config, updated_at = now(),
       generation = s.generation + CASE WHEN (s.instances, s.constraints, s.pinned_node, s.cpu, s.memory_mb, s.spread, s.release_id, s.module, s.config)
         IS DISTINCT FROM (EXCLUDED.instances, EXCLUDED.constraints, EXCLUDED.pinned_node, EXCLUDED.cpu, EXCLUDED.memory_mb,
                           EXCLUDED.spread, EXCLUDED.release_id, EXCLUDED.module, EXCLUDED.config) THEN 1 ELSE 0 END
     RETURNING *`,
    [s.name, s.instances, JSON.stringify(s.constraints), s.pinnedNode, s.cpu, s.memoryMb, s.spread, s.releaseId, s.module, JSON.stringify(s.config)],
  );
  const spec = toSpec(r.rows[0]!);
  await recordAudit(db, { actor, kind: 'service.spec', subject: s.name, detail: { ...spec } });
  return spec;
}

export async function listServiceSpecs(db: Db): Promise<ServiceSpec[]> {
  const r = await db.query<SpecRow>('SELECT * FROM service_specs ORDER BY name');
  return r.rows.map(toSpec);
}

/** The spec of one service; UnknownServiceError naming the known ones when there is none. */
export async function getServiceSpec(db: Db, name: string): Promise<ServiceSpec> {
  const r = await db.query<SpecRow>('SELECT * FROM service_specs WHERE name = $1', [name]);
  if (r.rows[0]) return toSpec(r.rows[0]);
  const all = await db.query<{ name: string }>('SELECT name FROM service_specs ORDER BY name');
  throw new UnknownServiceError(name, all.rows.map((x) => x.name));
}

/** Removes a spec; its placements go with it (the nodes stop the instances). */
export async function removeServiceSpec(db: Db, name: string, actor: string): Promise<void> {
  const r = await db.query('DELETE FROM service_specs WHERE name = $1', [name]);
  if (r.rowCount === 0) await getServiceSpec(db, name);
  await recordAudit(db, { actor, kind: 'service.removed', subject: name });
}
