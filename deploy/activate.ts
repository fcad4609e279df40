/**
 * Activating a ready release: what changed decides what is swapped. A service gets a rolling
 * update (scheduler/rollout.ts startDeployment) when it has a spec and its hash in the new
 * release differs from its hash in the release it runs now (a spec on the node's own code, no
 * release yet, counts as changed once: the first deploy). Everything else keeps running
 * untouched. Then, by default, the receiver waits for those rollouts, so the pusher learns how
 * they ended and a failed one refuses the push.
 */
import { listDeployments, startDeployment, type Deployment } from '../scheduler/rollout.js';
import type { Db } from '../core/pgTransaction.js';
import { DeployError } from './errors.js';
import { short, type Progress } from './progress.js';
import type { Release } from '../scheduler/store/releases.js';

export interface ActivationPlan {
  /** Services to roll out, with the commit they run now (null = the node's own code). */
  changed: Array<{ service: string; from: string | null }>;
  /** Services whose code is the same as in the release they run (or that already run this one). */
  unchanged: string[];
  /** Services of the release without a spec: nothing runs them through the scheduler. */
  unscheduled: string[];
}

interface SpecRow {
  name: string;
  release_id: string | null;
  commit: string | null;
  service_hashes: Record<string, string> | null;
}

export async function planActivation(db: Db, release: Release): Promise<ActivationPlan> {
  const specs = await db.query<SpecRow>('SELECT s.name, s.release_id, r.commit, r.service_hashes FROM service_specs s LEFT JOIN releases r ON r.id = s.release_id');
  const byName = new Map(specs.rows.map((s) => [s.name, s]));
  const plan: ActivationPlan = { changed: [], unchanged: [], unscheduled: [] };
  for (const [service, hash] of Object.entries(release.serviceHashes).sort(([a], [b]) => a.localeCompare(b))) {
    const spec = byName.get(service);
    if (!spec) plan.unscheduled.push(service);
    else if (spec.release_id !== null && Number(spec.release_id) === release.id) plan.unchanged.push(service);
    else if (spec.release_id === null || spec.service_hashes?.[service] !== hash) plan.changed.push({ service, from: spec.commit });
    else plan.unchanged.push(service);
  }
  return plan;
}

export interface StartOptions {
  maxParallel: number;
  batchTimeoutMs: number;
  /** null: the scheduler's default. */
  healthWindowMs: number | null;
  actor: string;
}

/**
 * Records one rolling update per changed service. An unfinished rollout of any of them refuses
 * the whole activation before anything is recorded: half a release rolled out is worse than none.
 */
export async function startRollouts(db: Db, release: Release, plan: ActivationPlan, options: StartOptions, progress: Progress): Promise<Deployment[]> {
  const names = plan.changed.map((c) => c.service);
  if (names.length === 0) return [];
  const open = await db.query<{ id: string; service: string }>("SELECT id, service FROM deployments WHERE service = ANY($1) AND state IN ('pending', 'running') ORDER BY id", [names]);
  if (open.rows.length > 0) {
    const list = open.rows.map((r) => `deployment ${r.id} of ${r.service}`).join(', ');
    throw new DeployError('activate', `${list} is still in progress; wait for it ('hydra scheduler deployments') or stop it ('hydra scheduler rollback <service>'), then push again`);
  }
  const started: Deployment[] = [];
  for (const c of plan.changed) {
    const d = await startDeployment(db, {
      service: c.service,
      release: release.commit,
      maxParallel: options.maxParallel,
      batchTimeoutMs: options.batchTimeoutMs,
      ...(options.healthWindowMs !== null ? { healthWindowMs: options.healthWindowMs } : {}),
      actor: options.actor,
    });
    progress.step(`activate: ${c.service} changed → deployment ${d.id} from ${c.from === null ? "the node's own code" : short(c.from)} to ${short(release.commit)} (${options.maxParallel} node(s) at a time)`);
    started.push(d);
  }
  return started;
}

const FINISHED = new Set(['succeeded', 'failed', 'rolled_back']);

/**
 * Polls the deployments until each has finished or the time is up, printing each change of
 * state or batch as it happens. Returns their last state (unfinished ones still pending/running).
 */
export async function waitForRollouts(db: Db, deployments: Deployment[], timeoutMs: number, progress: Progress, pollMs = 500): Promise<Deployment[]> {
  const ids = new Set(deployments.map((d) => d.id));
  const seen = new Map<number, string>();
  const deadline = Date.now() + timeoutMs;
  let current = deployments;
  for (;;) {
    const all = await listDeployments(db, { limit: 1000 });
    current = all.filter((d) => ids.has(d.id)).sort((a, b) => a.id - b.id);
    for (const d of current) {
      const view = `${d.state} ${d.progress.done.join(',')}|${d.progress.batch.join(',')}`;
      if (seen.get(d.id) === view) continue;
      seen.set(d.id, view);
      const batch = d.progress.batch.length > 0 ? `, batch ${d.progress.batch.join(', ')}` : '';
      progress.step(`rollout: deployment ${d.id} of ${d.service}: ${d.state}${batch} (${d.progress.done.length} node(s) done)${d.error ? `: ${d.error}` : ''}`);
    }
    if (current.every((d) => FINISHED.has(d.state)) || Date.now() >= deadline) return current;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
