/**
 * Placements (table placements): the leader writes the desired side, fenced by its epoch; each
 * node's reconciler reads what is desired of it and writes back the actual side of its own rows
 * only. The two sides never overwrite each other: the leader's statements touch desired_* and
 * node_id, the node's touch actual_*.
 */
import type pg from 'pg';
import { assertFence, type Fence } from './lease.js';
import type { PlanResult } from './placement/plan.js';
import { recordAudit } from './store/audit.js';
import { inTransaction, type Db } from '../core/pgTransaction.js';
import type { ActualState, Placement } from './types.js';

interface PlacementRow {
  id: string;
  service: string;
  instance: number;
  node_id: string | null;
  desired_state: Placement['desiredState'];
  desired_version: string | null;
  unplaceable: string | null;
  leader_epoch: string;
  actual_state: ActualState;
  actual_version: string | null;
  actual_detail: string | null;
  actual_port: number | null;
  actual_pid: number | null;
  actual_healthy: boolean | null;
  actual_node: string | null;
  actual_at: Date | null;
  updated_at: Date;
}

function toPlacement(r: PlacementRow): Placement {
  return {
    id: Number(r.id),
    service: r.service,
    instance: r.instance,
    nodeId: r.node_id,
    desiredState: r.desired_state,
    desiredVersion: r.desired_version,
    unplaceable: r.unplaceable,
    leaderEpoch: Number(r.leader_epoch),
    actualState: r.actual_state,
    actualVersion: r.actual_version,
    actualDetail: r.actual_detail,
    actualPort: r.actual_port,
    actualPid: r.actual_pid,
    actualHealthy: r.actual_healthy,
    actualNode: r.actual_node,
    actualAt: r.actual_at,
    updatedAt: r.updated_at,
  };
}

export interface PlacementFilter {
  nodeId?: string;
  service?: string;
}

export async function listPlacements(db: Db, filter: PlacementFilter = {}): Promise<Placement[]> {
  const r = await db.query<PlacementRow>(
    `SELECT * FROM placements WHERE ($1::text IS NULL OR node_id = $1) AND ($2::text IS NULL OR service = $2)
     ORDER BY service, instance`,
    [filter.nodeId ?? null, filter.service ?? null],
  );
  return r.rows.map(toPlacement);
}

/**
 * Writes a plan as the leader: one transaction that first checks the fence (FencingError when
 * deposed, and nothing is written), then upserts the changed placements, deletes the removed
 * ones, and audits each. A moved placement starts over as pending on its new node; its actual_*
 * columns keep naming the old node (actual_node) until the new node reports.
 */
export async function applyPlan(db: Db, fence: Fence, result: PlanResult, actor = 'scheduler'): Promise<void> {
  if (result.changes.length === 0 && result.removals.length === 0) return;
  await inTransaction(db, async (client) => {
    await assertFence(client, fence);
    await applyPlanIn(client, fence, result, actor);
  });
}

/** applyPlan's body, for a caller already inside its fenced transaction (the leader's tick). */
export async function applyPlanIn(client: pg.ClientBase, fence: Fence, result: PlanResult, actor = 'scheduler'): Promise<void> {
  for (const c of result.changes) {
    await client.query(
      `INSERT INTO placements AS p (service, instance, node_id, unplaceable, leader_epoch, desired_version)
       VALUES ($1, $2, $3, $4, $5, (SELECT r.commit FROM service_specs s LEFT JOIN releases r ON r.id = s.release_id WHERE s.name = $1))
       ON CONFLICT (service, instance) DO UPDATE SET
         node_id = EXCLUDED.node_id, unplaceable = EXCLUDED.unplaceable, leader_epoch = EXCLUDED.leader_epoch, updated_at = now(),
         actual_state = CASE WHEN p.node_id IS DISTINCT FROM EXCLUDED.node_id THEN 'pending' ELSE p.actual_state END`,
      [c.service, c.instance, c.nodeId, c.unplaceable, fence.epoch],
    );
    await recordAudit(client, {
      actor,
      kind: `placement.${c.kind}`,
      subject: `${c.service}#${c.instance + 1}`,
      detail: { node: c.nodeId, from: c.from, reason: c.reason, ...(c.unplaceable !== null ? { unplaceable: c.unplaceable } : {}), epoch: fence.epoch },
    });
  }
  for (const r of result.removals) {
    await client.query('DELETE FROM placements WHERE service = $1 AND instance = $2', [r.service, r.instance]);
    await recordAudit(client, { actor, kind: 'placement.removed', subject: `${r.service}#${r.instance + 1}`, detail: { node: r.nodeId, reason: r.reason, epoch: fence.epoch } });
  }
}

/** What a node's reconciler needs to run one placement: the placement plus its spec and release. */
export interface DesiredInstance {
  service: string;
  instance: number;
  desiredState: Placement['desiredState'];
  /** Release commit, null = the node's own code. */
  version: string | null;
  /** The release's app root, when the version names a release. */
  releasePath: string | null;
  module: string | null;
  config: Record<string, string>;
}

/** The placements desired of a node, with what it takes to run them. */
export async function desiredFor(db: Db, nodeId: string): Promise<DesiredInstance[]> {
  const r = await db.query<{
    service: string;
    instance: number;
    desired_state: Placement['desiredState'];
    desired_version: string | null;
    release_path: string | null;
    module: string | null;
    config: Record<string, string>;
  }>(
    `SELECT p.service, p.instance, p.desired_state, p.desired_version, r.path AS release_path, s.module, s.config
     FROM placements p JOIN service_specs s ON s.name = p.service LEFT JOIN releases r ON r.commit = p.desired_version
     WHERE p.node_id = $1 ORDER BY p.service, p.instance`,
    [nodeId],
  );
  return r.rows.map((row) => ({
    service: row.service,
    instance: row.instance,
    desiredState: row.desired_state,
    version: row.desired_version,
    releasePath: row.release_path,
    module: row.module,
    config: row.config,
  }));
}

export interface ActualReport {
  service: string;
  instance: number;
  state: ActualState;
  version: string | null;
  port: number | null;
  pid: number | null;
  healthy: boolean | null;
  detail: string | null;
}

/**
 * A node reports the actual state of its instances. Only rows still placed on this node are
 * written: a placement the leader has just moved elsewhere must not get the old node's report.
 * Returns how many rows were updated.
 */
export async function reportActual(db: Db, nodeId: string, reports: ActualReport[]): Promise<number> {
  if (reports.length === 0) return 0;
  const r = await db.query(
    `UPDATE placements p SET actual_state = x.state, actual_version = x.version, actual_port = x.port, actual_pid = x.pid,
       actual_healthy = x.healthy, actual_detail = x.detail, actual_node = $1, actual_at = now()
     FROM jsonb_to_recordset($2::jsonb) AS x(service text, instance int, state text, version text, port int, pid int, healthy boolean, detail text)
     WHERE p.service = x.service AND p.instance = x.instance AND p.node_id = $1
       AND (p.actual_state, p.actual_version, p.actual_port, p.actual_pid, p.actual_healthy, p.actual_detail, p.actual_node)
           IS DISTINCT FROM (x.state, x.version, x.port, x.pid, x.healthy, x.detail, $1)`,
    [nodeId, JSON.stringify(reports)],
  );
  return r.rowCount ?? 0;
}

