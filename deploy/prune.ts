/**
 * Keeping releases: the newest `keep` ready releases, the newest failed one (to look at its
 * build), the release just pushed, and every release still in use (a spec runs it, a placement
 * wants or runs it, an unfinished deployment goes to or back to it) stay; the directories of
 * the others are deleted and their rows retired (retireRelease in scheduler/store/releases.ts). Runs after each
 * push; a failure here is reported and never fails the push.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Db } from '../core/pgTransaction.js';
import { short, type Progress } from './progress.js';
import { allReleases, releasesInUse, retireRelease } from '../scheduler/store/releases.js';

/** What a release's commit may be (the CHECK on releases.commit says the same). */
export const SAFE_COMMIT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export interface PruneResult {
  removed: string[];
}

export async function pruneReleases(db: Db, releasesDir: string, keep: number, current: string, progress: Progress): Promise<PruneResult> {
  const rows = await allReleases(db);
  const inUse = await releasesInUse(db);
  const kept = new Set<string>([current, ...inUse]);
  for (const r of rows.filter((x) => x.status === 'ready').slice(0, keep)) kept.add(r.commit);
  // The database refuses such a commit (releases_commit_check); checked again here because this
  // path is deleted recursively: a name that is not one plain entry of releasesDir is never used.
  const dirOf = (commit: string) => {
    if (!SAFE_COMMIT.test(commit)) throw new Error(`release commit ${JSON.stringify(commit)} is not a plain name; refusing to delete ${path.join(releasesDir, commit)}`);
    return path.join(releasesDir, commit);
  };
  const newestFailed = rows.find((x) => x.status === 'failed' && existsSync(dirOf(x.commit)));
  if (newestFailed) kept.add(newestFailed.commit);
  const removed: string[] = [];
  for (const r of rows) {
    // A building row of another commit is an interrupted push (pushes are serialised): prunable too.
    if (kept.has(r.commit)) continue;
    const present = existsSync(dirOf(r.commit));
    // Already pruned (a failed row without its directory): nothing left to do.
    if (!present && r.status === 'failed') continue;
    if (present) rmSync(dirOf(r.commit), { recursive: true, force: true });
    await retireRelease(db, r.id, `pruned: its directory was deleted (older than the ${keep} newest ready releases and not in use); push the commit again to rebuild it`);
    removed.push(r.commit);
  }
  // Directories without a row (a push interrupted before it was recorded).
  const known = new Set(rows.map((r) => r.commit));
  if (existsSync(releasesDir)) {
    for (const name of readdirSync(releasesDir)) {
      // Dot names are a node's staging (a release being built here from the database): not ours.
      if (known.has(name) || kept.has(name) || name.startsWith('.')) continue;
      rmSync(path.join(releasesDir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  if (removed.length > 0) progress.step(`prune: removed ${removed.length} old release(s): ${removed.map(short).join(', ')} (keeping the ${keep} newest ready ones and those in use)`);
  return { removed };
}
