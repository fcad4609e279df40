/**
 * The `releases` table as the receiver writes it: a row per pushed commit, `building` while it
 * is checked out, installed, built and checked, then `ready` with its per-service hashes and its
 * app root as `path`, or `failed` with the reason. A failed release activates nothing.
 */
import type { Db } from '../scheduler/store/db.js';

export type ReleaseStatus = 'building' | 'ready' | 'failed';

export interface Release {
  id: number;
  commit: string;
  /** The app root (the folder holding the built services/topology.json). */
  path: string;
  status: ReleaseStatus;
  serviceHashes: Record<string, string>;
  error: string | null;
  createdAt: Date;
}

interface Row {
  id: string;
  commit: string;
  path: string;
  status: ReleaseStatus;
  service_hashes: Record<string, string>;
  error: string | null;
  created_at: Date;
}

function toRelease(r: Row): Release {
  return { id: Number(r.id), commit: r.commit, path: r.path, status: r.status, serviceHashes: r.service_hashes, error: r.error, createdAt: r.created_at };
}

export async function getRelease(db: Db, commit: string): Promise<Release | null> {
  const r = await db.query<Row>('SELECT * FROM releases WHERE commit = $1', [commit]);
  return r.rows[0] ? toRelease(r.rows[0]) : null;
}

export async function getReleaseById(db: Db, id: number): Promise<Release | null> {
  const r = await db.query<Row>('SELECT * FROM releases WHERE id = $1', [id]);
  return r.rows[0] ? toRelease(r.rows[0]) : null;
}

/**
 * Marks the commit's release as building (a new row, or a failed or interrupted one built
 * again: a flaky registry should not make a commit undeployable forever).
 */
export async function beginRelease(db: Db, commit: string, path: string): Promise<Release> {
  const r = await db.query<Row>(
    `INSERT INTO releases (commit, path, status) VALUES ($1, $2, 'building')
     ON CONFLICT (commit) DO UPDATE SET path = EXCLUDED.path, status = 'building', error = NULL, service_hashes = '{}'
     RETURNING *`,
    [commit, path],
  );
  return toRelease(r.rows[0]!);
}

export async function markReady(db: Db, id: number, appRoot: string, hashes: Record<string, string>): Promise<Release> {
  const r = await db.query<Row>("UPDATE releases SET status = 'ready', path = $2, service_hashes = $3, error = NULL WHERE id = $1 RETURNING *", [id, appRoot, JSON.stringify(hashes)]);
  return toRelease(r.rows[0]!);
}

export async function markFailed(db: Db, id: number, error: string): Promise<void> {
  await db.query("UPDATE releases SET status = 'failed', error = $2 WHERE id = $1", [id, error]);
}

/** Ready releases other than `commit`, newest first (candidates for node_modules reuse). */
export async function readyReleases(db: Db, exceptCommit: string): Promise<Release[]> {
  const r = await db.query<Row>("SELECT * FROM releases WHERE status = 'ready' AND commit <> $1 ORDER BY id DESC", [exceptCommit]);
  return r.rows.map(toRelease);
}

export interface ReleaseUsage extends Release {
  /** Services whose spec runs this release. */
  services: string[];
  /** Placements reported running this release (`service#i@node`). */
  instances: string[];
}

export async function listReleases(db: Db, limit = 50): Promise<ReleaseUsage[]> {
  const r = await db.query<Row & { services: string[] | null; instances: string[] | null }>(
    `SELECT r.*,
       (SELECT array_agg(s.name ORDER BY s.name) FROM service_specs s WHERE s.release_id = r.id) AS services,
       (SELECT array_agg(p.service || '#' || (p.instance + 1) || '@' || p.actual_node ORDER BY p.service, p.instance)
          FROM placements p WHERE p.actual_version = r.commit AND p.actual_state = 'running') AS instances
     FROM releases r ORDER BY r.id DESC LIMIT $1`,
    [limit],
  );
  return r.rows.map((row) => ({ ...toRelease(row), services: row.services ?? [], instances: row.instances ?? [] }));
}

/**
 * Commits still in use: the release a spec runs, the versions placements want or run, and both
 * ends of an unfinished deployment (a rollback goes back to the previous one).
 */
export async function releasesInUse(db: Db): Promise<Set<string>> {
  const r = await db.query<{ commit: string }>(
    `SELECT r.commit FROM releases r WHERE r.id IN (SELECT release_id FROM service_specs WHERE release_id IS NOT NULL)
     UNION SELECT desired_version FROM placements WHERE desired_version IS NOT NULL
     UNION SELECT actual_version FROM placements WHERE actual_version IS NOT NULL
     UNION SELECT r.commit FROM deployments d JOIN releases r ON r.id IN (d.release_id, d.previous_release_id) WHERE d.state IN ('pending', 'running')`,
  );
  return new Set(r.rows.map((x) => x.commit));
}

/**
 * Forgets a pruned release: the row goes when no deployment refers to it; otherwise (history
 * keeps it) it is marked failed with the reason, so nobody deploys a release whose files are gone.
 */
export async function retireRelease(db: Db, id: number, reason: string): Promise<'deleted' | 'retired'> {
  const used = await db.query('SELECT 1 FROM deployments WHERE release_id = $1 OR previous_release_id = $1 LIMIT 1', [id]);
  if (used.rowCount === 0) {
    await db.query('DELETE FROM releases WHERE id = $1', [id]);
    return 'deleted';
  }
  await db.query("UPDATE releases SET status = 'failed', error = $2 WHERE id = $1", [id, reason]);
  return 'retired';
}
