/**
 * The `function_calls` mailbox (migration 007): a caller asks the node running an instance to
 * call one of its service functions, and waits for the answer; the node claims the calls
 * addressed to it and answers them (callRunner.ts). The database is the one link every node
 * already has, so a call reaches an instance on 127.0.0.1 of a node behind NAT.
 */
import type { CallerRole } from '../../runtime/functionParams.js';
import type { Db } from '../../core/pgTransaction.js';

export interface CallRequest {
  nodeId: string;
  service: string;
  fn: string;
  args: Record<string, unknown>;
  timeoutMs: number;
  /** Who asks: `scheduler@<node>`, `cli@<host>`. */
  requestedBy: string;
  /** What the call comes as: a function declaring roles runs only for those. */
  role: CallerRole;
}

export interface ClaimedCall {
  id: number;
  service: string;
  fn: string;
  args: Record<string, unknown>;
  role: CallerRole;
  /** Milliseconds left before the caller gives up. */
  remainingMs: number;
}

export type CallAnswer = { state: 'done'; status: number; body: unknown; url: string } | { state: 'failed'; error: string; url: string | null };

export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
  constructor(
    readonly nodeId: string,
    readonly state: 'pending' | 'running',
    timeoutMs: number,
  ) {
    super(state === 'pending' ? `node ${nodeId} did not take the call within ${timeoutMs} ms (is it running and connected to the database?)` : `node ${nodeId} took the call but it did not finish within ${timeoutMs} ms`);
  }
}

export async function requestCall(db: Db, req: CallRequest): Promise<number> {
  const r = await db.query<{ id: string }>(
    `INSERT INTO function_calls (node_id, service, function, args, requested_by, role, deadline)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::double precision / 1000)) RETURNING id`,
    [req.nodeId, req.service, req.fn, JSON.stringify(req.args), req.requestedBy, req.role, req.timeoutMs],
  );
  return Number(r.rows[0]!.id);
}

interface AnswerRow {
  node_id: string;
  state: 'pending' | 'running' | 'done' | 'failed';
  status: number | null;
  result: unknown;
  url: string | null;
  error: string | null;
}

/**
 * Waits for the call's answer, polling every `pollMs`, and deletes the row once read (the
 * caller keeps what matters, e.g. in job_runs). Past `timeoutMs` the row is deleted whatever
 * its state (a node still working on it then finds nothing to write to) and CallTimeoutError
 * says whether the node ever took it.
 */
export async function awaitCall(db: Db, id: number, timeoutMs: number, pollMs = 50): Promise<CallAnswer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await db.query<AnswerRow>('SELECT node_id, state, status, result, url, error FROM function_calls WHERE id = $1', [id]);
    const row = r.rows[0];
    if (!row) throw new Error(`function call ${id} vanished before it was answered`);
    if (row.state === 'done' || row.state === 'failed') {
      await db.query('DELETE FROM function_calls WHERE id = $1', [id]);
      return row.state === 'done' ? { state: 'done', status: row.status ?? 0, body: row.result, url: row.url ?? '' } : { state: 'failed', error: row.error ?? 'no reason recorded', url: row.url };
    }
    if (performance.now() >= deadline) {
      await db.query('DELETE FROM function_calls WHERE id = $1', [id]);
      throw new CallTimeoutError(row.node_id, row.state, timeoutMs);
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, deadline - performance.now()))));
  }
}

/** Takes up to `limit` pending calls for `nodeId` whose caller still waits; a row is taken by one claimer only. */
export async function claimCalls(db: Db, nodeId: string, limit: number): Promise<ClaimedCall[]> {
  const r = await db.query<{ id: string; service: string; function: string; args: Record<string, unknown>; role: CallerRole; remaining_ms: number }>(
    `UPDATE function_calls c SET state = 'running', started_at = now()
     FROM (SELECT id FROM function_calls WHERE node_id = $1 AND state = 'pending' AND deadline > now() ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) todo
     WHERE c.id = todo.id
     RETURNING c.id, c.service, c.function, c.args, c.role, (extract(epoch FROM c.deadline - now()) * 1000)::float8 AS remaining_ms`,
    [nodeId, limit],
  );
  return r.rows.map((row) => ({ id: Number(row.id), service: row.service, fn: row.function, args: row.args, role: row.role, remainingMs: Math.max(0, row.remaining_ms) }));
}

export async function finishCall(db: Db, id: number, answer: CallAnswer): Promise<void> {
  if (answer.state === 'done') {
    await db.query("UPDATE function_calls SET state = 'done', status = $2, result = $3, url = $4, finished_at = now() WHERE id = $1 AND state = 'running'", [id, answer.status, JSON.stringify(answer.body ?? null), answer.url]);
  } else {
    await db.query("UPDATE function_calls SET state = 'failed', error = $2, url = $3, finished_at = now() WHERE id = $1 AND state = 'running'", [id, answer.error, answer.url]);
  }
}

/**
 * The node of one running instance of `service` (on `node` when given): reported running with a
 * port by the node it is placed on (actual_node = node_id, so not the stale report of a node it
 * moved away from), on a node that is up. Healthy ones first; random among equals, to spread calls.
 */
export async function instanceNode(db: Db, service: string, node: string | null = null): Promise<string | null> {
  const r = await db.query<{ node_id: string }>(
    `SELECT p.node_id
     FROM placements p JOIN nodes n ON n.id = p.node_id
     WHERE p.service = $1 AND ($2::text IS NULL OR p.node_id = $2) AND p.actual_state = 'running' AND p.actual_port IS NOT NULL
       AND p.actual_node = p.node_id AND n.state = 'up'
     ORDER BY p.actual_healthy IS NOT FALSE DESC, random()
     LIMIT 1`,
    [service, node],
  );
  return r.rows[0]?.node_id ?? null;
}
