/**
 * Rolling updates: a deployment moves one service's placements to a release a few nodes at a
 * time. The leader advances it on each tick (stepDeployments, inside its fenced transaction):
 * a batch of at most max_parallel nodes gets the new desired_version; the next batch starts only
 * when every instance of the batch runs the new version and has reported healthy, with nothing
 * changing, for the health window. An instance that fails or turns unhealthy, or a batch that is not healthy within batch_timeout_ms, fails the deployment: the batch
 * goes back to the previous version, the nodes not reached yet were never touched, and the
 * reason is stored on the deployment and audited. The spec's release changes only on success.
 *
 * Versions are release commits; a spec without a release runs the node's own code (null).
 */
import type pg from 'pg';
import { DeploymentError } from './errors.js';
import { getServiceSpec } from './specs.js';
import { recordAudit } from './store/audit.js';
import { findReadyRelease } from './store/releases.js';
import { inTransaction, type Db } from '../core/pgTransaction.js';

export type DeploymentState = 'pending' | 'running' | 'succeeded' | 'failed' | 'rolled_back';

export interface DeploymentProgress {
  /** Nodes whose instances run the new version, healthy. */
  done: string[];
  /** The batch in progress. */
  batch: string[];
  batchStartedAt: string | null;
}

export interface Deployment {
  id: number;
  service: string;
  releaseId: number;
  commit: string;
  previousReleaseId: number | null;
  previousCommit: string | null;
  maxParallel: number;
  batchTimeoutMs: number;
  healthWindowMs: number;
  state: DeploymentState;
  progress: DeploymentProgress;
  error: string | null;
  actor: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface DeploymentRow {
  id: string;
  service: string;
  release_id: string;
  commit: string;
  previous_release_id: string | null;
  previous_commit: string | null;
  max_parallel: number;
  batch_timeout_ms: number;
  health_window_ms: number;
  state: DeploymentState;
  progress: Partial<DeploymentProgress>;
  error: string | null;
  actor: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const SELECT = `SELECT d.*, r.commit, pr.commit AS previous_commit FROM deployments d
  JOIN releases r ON r.id = d.release_id LEFT JOIN releases pr ON pr.id = d.previous_release_id`;

function toDeployment(r: DeploymentRow): Deployment {
  return {
    id: Number(r.id),
    service: r.service,
    releaseId: Number(r.release_id),
    commit: r.commit,
    previousReleaseId: r.previous_release_id === null ? null : Number(r.previous_release_id),
    previousCommit: r.previous_commit,
    maxParallel: r.max_parallel,
    batchTimeoutMs: r.batch_timeout_ms,
    healthWindowMs: r.health_window_ms,
    state: r.state,
    progress: { done: r.progress.done ?? [], batch: r.progress.batch ?? [], batchStartedAt: r.progress.batchStartedAt ?? null },
    error: r.error,
    actor: r.actor,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function listDeployments(db: Db, filter: { service?: string; limit?: number } = {}): Promise<Deployment[]> {
  const r = await db.query<DeploymentRow>(`${SELECT} WHERE ($1::text IS NULL OR d.service = $1) ORDER BY d.id DESC LIMIT $2`, [filter.service ?? null, filter.limit ?? 50]);
  return r.rows.map(toDeployment);
}

export interface StartDeploymentInput {
  service: string;
  /** Release commit (or a unique prefix of at least 7 characters). */
  release: string;
  maxParallel?: number;
  batchTimeoutMs?: number;
  /** How long a batch must run healthy before the next starts (default 5000 ms). */
  healthWindowMs?: number;
  actor: string;
}

/**
 * Records a deployment of `release` for one service; the leader rolls it out from its next tick.
 * Refused (DeploymentError) while another deployment of the service is unfinished, for a release
 * that does not exist or is not ready, or when the service already runs that release.
 */
export async function startDeployment(db: Db, input: StartDeploymentInput): Promise<Deployment> {
  const maxParallel = input.maxParallel ?? 1;
  if (!Number.isSafeInteger(maxParallel) || maxParallel < 1) throw new DeploymentError(`max parallel: ${maxParallel} is invalid; expected a whole number of at least 1`);
  const batchTimeoutMs = input.batchTimeoutMs ?? 120_000;
  if (!Number.isSafeInteger(batchTimeoutMs) || batchTimeoutMs < 1) throw new DeploymentError(`batch timeout: ${batchTimeoutMs} is invalid; expected a whole number of ms above 0`);
  const healthWindowMs = input.healthWindowMs ?? 5_000;
  if (!Number.isSafeInteger(healthWindowMs) || healthWindowMs < 0) throw new DeploymentError(`health window: ${healthWindowMs} is invalid; expected a whole number of ms of at least 0`);
  const spec = await getServiceSpec(db, input.service);
  if (!/^[0-9a-f]{7,40}$/.test(input.release)) throw new DeploymentError(`release: '${input.release}' is invalid; expected a commit id (7 to 40 hex digits)`);
  const release = await findReadyRelease(db, input.release, 'deploy');
  if (spec.releaseId === release.id) throw new DeploymentError(`service '${spec.name}' already runs release ${release.commit.slice(0, 12)}; nothing to deploy`);
  return inTransaction(db, async (client) => {
    // Serialises concurrent starts for one service (the spec row is the lock).
    await client.query('SELECT 1 FROM service_specs WHERE name = $1 FOR UPDATE', [spec.name]);
    const open = await client.query<{ id: string }>("SELECT id FROM deployments WHERE service = $1 AND state IN ('pending', 'running')", [spec.name]);
    if (open.rows[0]) throw new DeploymentError(`deployment ${open.rows[0].id} of '${spec.name}' is still in progress; wait for it or roll it back with 'hydra scheduler rollback ${spec.name}'`);
    const ins = await client.query<{ id: string }>(
      `INSERT INTO deployments (release_id, previous_release_id, service, max_parallel, batch_timeout_ms, health_window_ms, actor, progress)
       VALUES ($1, $2, $3, $4, $5, $6, $7, '{"done": [], "batch": [], "batchStartedAt": null}') RETURNING id`,
      [release.id, spec.releaseId, spec.name, maxParallel, batchTimeoutMs, healthWindowMs, input.actor],
    );
    const id = Number(ins.rows[0]!.id);
    await recordAudit(client, { actor: input.actor, kind: 'deployment.created', subject: spec.name, detail: { deployment: id, release: release.commit, previousReleaseId: spec.releaseId, maxParallel } });
    const r = await client.query<DeploymentRow>(`${SELECT} WHERE d.id = $1`, [id]);
    return toDeployment(r.rows[0]!);
  });
}

/**
 * Rolls a service back: an unfinished deployment is stopped and its nodes return to the
 * previous version; otherwise a new deployment to the release before the current one (the
 * previous release of the last successful deployment). DeploymentError when there is nothing
 * to go back to.
 */
export async function rollback(db: Db, service: string, actor: string, options: { maxParallel?: number } = {}): Promise<{ kind: 'stopped' | 'redeployed'; deployment: Deployment }> {
  const spec = await getServiceSpec(db, service);
  const stopped = await inTransaction(db, async (client) => {
    const r = await client.query<DeploymentRow>(`${SELECT} WHERE d.service = $1 AND d.state IN ('pending', 'running') FOR UPDATE OF d`, [spec.name]);
    const open = r.rows[0];
    if (!open) return null;
    const d = toDeployment(open);
    await revert(client, d, [...d.progress.done, ...d.progress.batch]);
    await finish(client, d, 'rolled_back', `rolled back by ${actor}`, actor);
    const again = await client.query<DeploymentRow>(`${SELECT} WHERE d.id = $1`, [d.id]);
    return toDeployment(again.rows[0]!);
  });
  if (stopped) return { kind: 'stopped', deployment: stopped };
  const last = await db.query<{ previous_commit: string | null }>(
    `SELECT pr.commit AS previous_commit FROM deployments d LEFT JOIN releases pr ON pr.id = d.previous_release_id
     WHERE d.service = $1 AND d.state = 'succeeded' AND d.release_id = $2 ORDER BY d.id DESC LIMIT 1`,
    [spec.name, spec.releaseId],
  );
  const previous = last.rows[0]?.previous_commit;
  if (!previous) throw new DeploymentError(`service '${spec.name}' has no earlier release to roll back to (no successful deployment brought it to its current release)`);
  const deployment = await startDeployment(db, { service: spec.name, release: previous, actor, ...(options.maxParallel !== undefined ? { maxParallel: options.maxParallel } : {}) });
  return { kind: 'redeployed', deployment };
}

interface Instance {
  node_id: string | null;
  instance: number;
  desired_version: string | null;
  actual_state: string;
  actual_version: string | null;
  actual_healthy: boolean | null;
  actual_node: string | null;
  actual_detail: string | null;
  /** Time since the node last changed anything it reports for this instance. */
  steady_ms: number;
}

/**
 * Advances every unfinished deployment by one step. Runs inside the leader's fenced
 * transaction (`client`), so a deposed leader's step is never committed.
 */
export async function stepDeployments(client: pg.ClientBase, actor = 'scheduler'): Promise<void> {
  const r = await client.query<DeploymentRow>(`${SELECT} WHERE d.state IN ('pending', 'running') ORDER BY d.id FOR UPDATE OF d`);
  for (const row of r.rows) await step(client, toDeployment(row), actor);
}

async function step(client: pg.ClientBase, d: Deployment, actor: string): Promise<void> {
  if (d.state === 'pending') {
    await client.query("UPDATE deployments SET state = 'running', started_at = now() WHERE id = $1", [d.id]);
    await recordAudit(client, { actor, kind: 'deployment.started', subject: d.service, detail: { deployment: d.id, release: d.commit } });
  }
  const instances = (
    await client.query<Instance>(
      `SELECT node_id, instance, desired_version, actual_state, actual_version, actual_healthy, actual_node, actual_detail,
         coalesce(extract(epoch FROM now() - actual_at) * 1000, 0)::float8 AS steady_ms
       FROM placements WHERE service = $1 ORDER BY instance`,
      [d.service],
    )
  ).rows;
  if (d.progress.batch.length > 0) {
    const batch = instances.filter((i) => i.node_id !== null && d.progress.batch.includes(i.node_id));
    const mine = (i: Instance) => i.desired_version === d.commit && i.actual_node === i.node_id && i.actual_version === d.commit;
    const failed = batch.find((i) => mine(i) && (i.actual_state === 'failed' || i.actual_healthy === false));
    if (failed) {
      const what = failed.actual_state === 'failed' ? 'failed' : 'is unhealthy';
      return fail(client, d, `${d.service}#${failed.instance + 1} on ${failed.node_id} ${what} with release ${short(d.commit)}: ${failed.actual_detail ?? 'no detail'}`, actor);
    }
    const healthy = (i: Instance) => mine(i) && i.actual_state === 'running' && i.actual_healthy !== false && i.steady_ms >= d.healthWindowMs;
    if (batch.every(healthy)) {
      d.progress.done = [...d.progress.done, ...d.progress.batch];
      d.progress.batch = [];
      d.progress.batchStartedAt = null;
      await saveProgress(client, d);
      await recordAudit(client, { actor, kind: 'deployment.batch_done', subject: d.service, detail: { deployment: d.id, nodes: d.progress.done } });
    } else {
      const elapsed = await client.query<{ ms: number }>('SELECT (extract(epoch FROM now() - $1::timestamptz) * 1000)::float8 AS ms', [d.progress.batchStartedAt]);
      if (elapsed.rows[0]!.ms > d.batchTimeoutMs) {
        const waiting = batch.filter((i) => !healthy(i)).map((i) => `${d.service}#${i.instance + 1} on ${i.node_id} is ${i.actual_node === i.node_id ? i.actual_state : 'not reported'}${i.actual_healthy === false ? ' (unhealthy)' : ''}`);
        return fail(client, d, `batch ${d.progress.batch.join(', ')} not healthy within ${d.batchTimeoutMs} ms: ${waiting.join('; ')}`, actor);
      }
      return;
    }
  }
  const remaining = [...new Set(instances.filter((i) => i.node_id !== null && i.desired_version !== d.commit).map((i) => i.node_id!))].sort();
  if (remaining.length === 0) return succeed(client, d, actor);
  const next = remaining.slice(0, d.maxParallel);
  await client.query('UPDATE placements SET desired_version = $3, updated_at = now() WHERE service = $1 AND node_id = ANY($2)', [d.service, next, d.commit]);
  const now = await client.query<{ now: Date }>('SELECT now()');
  d.progress.batch = next;
  d.progress.batchStartedAt = now.rows[0]!.now.toISOString();
  await saveProgress(client, d);
  await recordAudit(client, { actor, kind: 'deployment.batch_started', subject: d.service, detail: { deployment: d.id, nodes: next, release: d.commit } });
}

async function succeed(client: pg.ClientBase, d: Deployment, actor: string): Promise<void> {
  // Unplaced instances get the release too, so they start with it once placed.
  await client.query('UPDATE placements SET desired_version = $2 WHERE service = $1 AND node_id IS NULL', [d.service, d.commit]);
  await client.query('UPDATE service_specs SET release_id = $2, updated_at = now(), generation = generation + 1 WHERE name = $1', [d.service, d.releaseId]);
  await finish(client, d, 'succeeded', null, actor);
}

async function fail(client: pg.ClientBase, d: Deployment, reason: string, actor: string): Promise<void> {
  await revert(client, d, d.progress.batch);
  await finish(client, d, 'failed', reason, actor);
}

/** Puts the given nodes' instances of the service back on the previous version. */
async function revert(client: pg.ClientBase, d: Deployment, nodes: string[]): Promise<void> {
  await client.query('UPDATE placements SET desired_version = $3, updated_at = now() WHERE service = $1 AND (node_id = ANY($2) OR node_id IS NULL) AND desired_version IS NOT DISTINCT FROM $4', [
    d.service,
    nodes,
    d.previousCommit,
    d.commit,
  ]);
}

async function finish(client: pg.ClientBase, d: Deployment, state: DeploymentState, error: string | null, actor: string): Promise<void> {
  await client.query('UPDATE deployments SET state = $2, error = $3, finished_at = now(), progress = $4 WHERE id = $1', [d.id, state, error, JSON.stringify(d.progress)]);
  await recordAudit(client, { actor, kind: `deployment.${state}`, subject: d.service, detail: { deployment: d.id, release: d.commit, ...(error ? { error } : {}) } });
}

async function saveProgress(client: pg.ClientBase, d: Deployment): Promise<void> {
  await client.query('UPDATE deployments SET progress = $2 WHERE id = $1', [d.id, JSON.stringify(d.progress)]);
}

function short(commit: string): string {
  return commit.slice(0, 12);
}
