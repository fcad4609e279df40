/**
 * The one owner of the `releases` table and its `release_sources`: the deploy receiver writes a
 * row per pushed commit (`building` while it is checked out, installed, built and checked, then
 * `ready` with its per-service hashes and its app root as `path`, or `failed` with the reason),
 * with the commit's tree archived beside it so every node can build it; the scheduler and its
 * CLI read them to deploy, place and show releases. A failed release activates nothing.
 * All SQL on these two tables is here; callers call functions.
 */
import { DeploymentError } from '../errors.js';
import type { Db } from '../../core/pgTransaction.js';

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

/** Every release, newest first. */
export async function allReleases(db: Db): Promise<Release[]> {
  const r = await db.query<Row>('SELECT * FROM releases ORDER BY id DESC');
  return r.rows.map(toRelease);
}

/** Release id → commit, for the ids given (specs hold a release id, people read commits). */
export async function releaseCommits(db: Db, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const r = await db.query<{ id: string; commit: string }>('SELECT id, commit FROM releases WHERE id = ANY($1::bigint[])', [ids]);
  return new Map(r.rows.map((row) => [Number(row.id), row.commit]));
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

/**
 * What a release is wanted for decides the wording of a refusal: `deploy` (a rollout) or `use`
 * (a spec set by hand with `hydra scheduler place --release`).
 */
export type ReleasePurpose = 'deploy' | 'use';

/**
 * The ready release a commit (or a unique prefix of 7+ hex digits) names. DeploymentError saying
 * what is wrong: unknown, ambiguous, still building or failed.
 */
export async function findReadyRelease(db: Db, ref: string, purpose: ReleasePurpose): Promise<{ id: number; commit: string }> {
  const r = await db.query<{ id: string; commit: string; status: string; error: string | null }>('SELECT id, commit, status, error FROM releases WHERE commit LIKE $1 ORDER BY id DESC', [`${ref}%`]);
  const pushHint = purpose === 'deploy' ? "see 'hydra scheduler deployments'" : "'git push <node> main'";
  if (r.rows.length === 0) throw new DeploymentError(`release '${ref}' is unknown; push it first (${pushHint})`);
  if (r.rows.length > 1) throw new DeploymentError(`release '${ref}' is ambiguous (${r.rows.map((x) => x.commit.slice(0, 12)).join(', ')}); give more of the commit id`);
  const rel = r.rows[0]!;
  const verb = purpose === 'deploy' ? 'deployed' : 'used';
  if (rel.status !== 'ready') throw new DeploymentError(`release ${rel.commit.slice(0, 12)} is ${rel.status}${rel.error ? ` (${rel.error})` : ''}; only a ready release can be ${verb}`);
  return { id: Number(rel.id), commit: rel.commit };
}

// ---------------------------------------------------------------------------------------------
// release_sources: the pushed commit's tree as tar.gz, one per release.

export async function storeReleaseSource(db: Db, releaseId: number, source: { appSubdir: string; archive: Buffer; sha256: string; builtOn: string }): Promise<void> {
  await db.query(
    `INSERT INTO release_sources (release_id, app_subdir, archive, sha256, built_on) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (release_id) DO UPDATE SET app_subdir = EXCLUDED.app_subdir, archive = EXCLUDED.archive, sha256 = EXCLUDED.sha256, built_on = EXCLUDED.built_on, created_at = now()`,
    [releaseId, source.appSubdir, source.archive, source.sha256, source.builtOn],
  );
}

export async function hasReleaseSource(db: Db, releaseId: number): Promise<boolean> {
  const r = await db.query('SELECT 1 FROM release_sources WHERE release_id = $1', [releaseId]);
  return r.rowCount === 1;
}

/** Whether the database holds a source for the commit's release. */
export async function hasSourceForCommit(db: Db, commit: string): Promise<boolean> {
  const r = await db.query('SELECT 1 FROM release_sources s JOIN releases r ON r.id = s.release_id WHERE r.commit = $1', [commit]);
  return r.rowCount === 1;
}

/** A release with its stored source, as recorded; the source fields are null when none is kept. */
export interface ReleaseWithSource {
  status: ReleaseStatus;
  error: string | null;
  serviceHashes: Record<string, string>;
  appSubdir: string | null;
  archive: Buffer | null;
  sha256: string | null;
  builtOn: string | null;
}

/** The commit's release and its source, or null when the commit is not recorded. */
export async function readReleaseSource(db: Db, commit: string): Promise<ReleaseWithSource | null> {
  const r = await db.query<{ status: ReleaseStatus; error: string | null; service_hashes: Record<string, string>; app_subdir: string | null; archive: Buffer | null; sha256: string | null; built_on: string | null }>(
    `SELECT r.status, r.error, r.service_hashes, s.app_subdir, s.archive, s.sha256, s.built_on
     FROM releases r LEFT JOIN release_sources s ON s.release_id = r.id WHERE r.commit = $1`,
    [commit],
  );
  const row = r.rows[0];
  if (!row) return null;
  return { status: row.status, error: row.error, serviceHashes: row.service_hashes, appSubdir: row.app_subdir, archive: row.archive, sha256: row.sha256, builtOn: row.built_on };
}
