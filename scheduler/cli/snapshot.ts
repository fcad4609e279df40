/**
 * What the read commands show, read in one REPEATABLE READ transaction so the numbers agree with
 * each other (a node's reserved capacity and the placements it was summed from come from the
 * same moment), with the database clock for ages: nodes and the CLI's machine may disagree about
 * the time, heartbeats are judged on the database's clock only.
 */
import type pg from 'pg';
import { listPlacements } from '../placements.js';
import { listNodes, type NodeRecord } from '../registry.js';
import { listServiceSpecs } from '../specs.js';
import type { Placement, ServiceSpec } from '../types.js';

export interface Snapshot {
  nodes: NodeRecord[];
  specs: ServiceSpec[];
  placements: Placement[];
  /** The database's now(). */
  now: Date;
}

export async function readSnapshot(client: pg.ClientBase): Promise<Snapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const nodes = await listNodes(client);
    const specs = await listServiceSpecs(client);
    const placements = await listPlacements(client);
    const now = (await client.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
    await client.query('COMMIT');
    return { nodes, specs, placements, now };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface Reserved {
  cpu: number;
  memoryMb: number;
  instances: number;
}

/** Per node: the spec reservations of the instances placed on it. */
export function reservedByNode(s: Pick<Snapshot, 'specs' | 'placements'>): Map<string, Reserved> {
  const specs = new Map(s.specs.map((x) => [x.name, x]));
  const out = new Map<string, Reserved>();
  for (const p of s.placements) {
    if (p.nodeId === null) continue;
    const spec = specs.get(p.service);
    const r = out.get(p.nodeId) ?? { cpu: 0, memoryMb: 0, instances: 0 };
    r.cpu += spec?.cpu ?? 0;
    r.memoryMb += spec?.memoryMb ?? 0;
    r.instances += 1;
    out.set(p.nodeId, r);
  }
  return out;
}

/** `parse#1`: the instance as the node's supervisor names its child. */
export function instanceName(p: { service: string; instance: number }): string {
  return `${p.service}#${p.instance + 1}`;
}

/**
 * The actual side of a placement as it concerns its current node: after a move the actual_*
 * columns still describe the old node until the new one reports, so they read as pending.
 */
export function actualOf(p: Placement): { state: Placement['actualState']; version: string | null; port: number | null; pid: number | null; healthy: boolean | null; detail: string | null; at: Date | null } {
  if (p.nodeId === null || p.actualNode !== p.nodeId) return { state: 'pending', version: null, port: null, pid: null, healthy: null, detail: null, at: null };
  return { state: p.actualState, version: p.actualVersion, port: p.actualPort, pid: p.actualPid, healthy: p.actualHealthy, detail: p.actualDetail, at: p.actualAt };
}
