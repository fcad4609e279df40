/**
 * Node registry: a node daemon registers (id, labels, capacity, address, version) and then
 * heartbeats; the leader marks down the nodes whose last heartbeat is older than the timeout.
 * Ages are measured on the database clock only (heartbeat_at and now() both come from it), so a
 * node with a skewed clock is judged fairly.
 *
 * Identity: a node id is claimed by a host key (stable per machine and HYDRA_HOME). The same
 * key may re-register at any time (a restart); a different key is refused while the node
 * holding the id is alive, and may take the id over once that node is down or its heartbeat is
 * older than the timeout (the machine was replaced). Each refusal and takeover is audited.
 */
import { isNodeId, NODE_ID_RULE } from '../core/ids.js';
import { NodeIdCollisionError, NodeNotRegisteredError, UnknownNodeError } from './errors.js';
import { recordAudit } from './store/audit.js';
import type { Db } from '../core/pgTransaction.js';

export interface NodeRegistration {
  id: string;
  hostKey: string;
  labels?: Record<string, string>;
  /** e.g. { cpu: 4, memoryMb: 8192 } */
  capacity?: Record<string, number>;
  address: string;
  version: string;
}

export interface NodeRecord {
  id: string;
  hostKey: string;
  labels: Record<string, string>;
  capacity: Record<string, number>;
  address: string;
  version: string;
  state: 'up' | 'down';
  adminState: 'active' | 'cordoned' | 'draining';
  registeredAt: Date;
  heartbeatAt: Date;
}

interface NodeRow {
  id: string;
  host_key: string;
  labels: Record<string, string>;
  capacity: Record<string, number>;
  address: string;
  version: string;
  state: 'up' | 'down';
  admin_state: 'active' | 'cordoned' | 'draining';
  registered_at: Date;
  heartbeat_at: Date;
}

function toRecord(r: NodeRow): NodeRecord {
  return {
    id: r.id,
    hostKey: r.host_key,
    labels: r.labels,
    capacity: r.capacity,
    address: r.address,
    version: r.version,
    state: r.state,
    adminState: r.admin_state,
    registeredAt: r.registered_at,
    heartbeatAt: r.heartbeat_at,
  };
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs: ${timeoutMs} is invalid; expected a positive integer`);
}

/**
 * Registers (or re-registers) a node and counts as its first heartbeat. Keeps admin_state (a
 * cordoned node stays cordoned across restarts). NodeIdCollisionError when a live node with a
 * different host key holds the id.
 */
export async function registerNode(db: Db, node: NodeRegistration, timeoutMs: number): Promise<NodeRecord> {
  checkTimeout(timeoutMs);
  if (!isNodeId(node.id)) throw new RangeError(`id: ${JSON.stringify(node.id)} is invalid; expected ${NODE_ID_RULE}`);
  const r = await db.query<NodeRow & { previous_host_key: string | null }>(
    `WITH previous AS (SELECT host_key FROM nodes WHERE id = $1)
     INSERT INTO nodes AS n (id, host_key, labels, capacity, address, version, state, registered_at, heartbeat_at, down_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'up', now(), now(), NULL)
     ON CONFLICT (id) DO UPDATE SET
       host_key = EXCLUDED.host_key, labels = EXCLUDED.labels, capacity = EXCLUDED.capacity,
       address = EXCLUDED.address, version = EXCLUDED.version, state = 'up',
       registered_at = now(), heartbeat_at = now(), down_at = NULL
     WHERE n.host_key = EXCLUDED.host_key OR n.state = 'down'
        OR n.heartbeat_at <= now() - $7 * interval '1 millisecond'
     RETURNING n.*, (SELECT host_key FROM previous) AS previous_host_key`,
    [node.id, node.hostKey, JSON.stringify(node.labels ?? {}), JSON.stringify(node.capacity ?? {}), node.address, node.version, timeoutMs],
  );
  const row = r.rows[0];
  if (row) {
    const takeover = row.previous_host_key !== null && row.previous_host_key !== node.hostKey;
    await recordAudit(db, {
      actor: 'registry',
      kind: takeover ? 'node.takeover' : 'node.registered',
      subject: node.id,
      detail: { address: node.address, version: node.version, ...(takeover ? { previousHostKey: row.previous_host_key } : {}) },
    });
    return toRecord(row);
  }
  const existing = await db.query<{ address: string; age_ms: number }>(
    'SELECT address, (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS age_ms FROM nodes WHERE id = $1',
    [node.id],
  );
  const holder = existing.rows[0];
  const err = new NodeIdCollisionError(node.id, holder?.address ?? 'unknown', holder?.age_ms ?? 0);
  await recordAudit(db, { actor: 'registry', kind: 'node.collision', subject: node.id, detail: { address: node.address, reason: err.message } });
  throw err;
}

/** Records a heartbeat; brings a node marked down back up. NodeNotRegisteredError if the id is not ours. */
export async function heartbeat(db: Db, id: string, hostKey: string, address?: string): Promise<{ revived: boolean }> {
  // The address may be learnt after registration (an admin port chosen at bind time).
  const r = await db.query<{ was: 'up' | 'down' }>(
    `UPDATE nodes n SET heartbeat_at = now(), state = 'up', down_at = NULL, address = COALESCE($3, n.address)
     FROM (SELECT id, state FROM nodes WHERE id = $1 FOR UPDATE) old
     WHERE n.id = old.id AND n.host_key = $2
     RETURNING old.state AS was`,
    [id, hostKey, address ?? null],
  );
  const row = r.rows[0];
  if (!row) throw new NodeNotRegisteredError(id);
  if (row.was === 'down') await recordAudit(db, { actor: 'registry', kind: 'node.up', subject: id, detail: { reason: 'heartbeat resumed' } });
  return { revived: row.was === 'down' };
}

/**
 * Marks down every up node whose last heartbeat is older than timeoutMs, auditing each, in one
 * statement. Returns the ids marked. Idempotent; the leader calls it every tick (inside
 * withFence when it must only act as leader).
 */
export async function markDownNodes(db: Db, timeoutMs: number, actor = 'scheduler'): Promise<string[]> {
  checkTimeout(timeoutMs);
  const r = await db.query<{ id: string }>(
    `WITH down AS (
       UPDATE nodes SET state = 'down', down_at = now()
       WHERE state = 'up' AND heartbeat_at < now() - $1 * interval '1 millisecond'
       RETURNING id, heartbeat_at
     ), logged AS (
       -- The one audit row not written by recordAudit: it must land in the same statement as
       -- the state change it records, for every node marked at once.
       INSERT INTO audit_events (actor, kind, subject, detail)
       SELECT $2, 'node.down', id, jsonb_build_object('heartbeatAt', heartbeat_at, 'timeoutMs', $1::int) FROM down
     )
     SELECT id FROM down ORDER BY id`,
    [timeoutMs, actor],
  );
  return r.rows.map((row) => row.id);
}

/** All nodes, by id. */
export async function listNodes(db: Db): Promise<NodeRecord[]> {
  const r = await db.query<NodeRow>('SELECT * FROM nodes ORDER BY id');
  return r.rows.map(toRecord);
}

export type AdminState = NodeRecord['adminState'];

/**
 * The operator's intent for a node: `cordoned` takes no new work but keeps what it runs,
 * `draining` moves everything off (the leader's next plan does it), `active` is normal.
 * UnknownNodeError for an id that is not registered. Returns the previous state.
 */
export async function setNodeAdminState(db: Db, id: string, state: AdminState, actor: string): Promise<{ previous: AdminState; node: NodeRecord }> {
  const r = await db.query<NodeRow & { previous: AdminState }>(
    `UPDATE nodes n SET admin_state = $2 FROM (SELECT id, admin_state FROM nodes WHERE id = $1 FOR UPDATE) old
     WHERE n.id = old.id RETURNING n.*, old.admin_state AS previous`,
    [id, state],
  );
  const row = r.rows[0];
  if (!row) {
    const ids = await db.query<{ id: string }>('SELECT id FROM nodes ORDER BY id');
    throw new UnknownNodeError(id, ids.rows.map((x) => x.id));
  }
  await recordAudit(db, { actor, kind: `node.${state}`, subject: id, detail: { previous: row.previous } });
  return { previous: row.previous, node: toRecord(row) };
}
