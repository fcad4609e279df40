/**
 * Release sources in the database: what a node refuses to build from (unknown, unfinished or
 * failed release, no source kept, an archive whose sha256 is not the recorded one) with a
 * reason saying what to do, and without leaving anything in its releases directory; and which
 * of its own builds a node prunes.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { migrate } from '../../scheduler/store/migrate.js';
import { createProgress } from '../../deploy/progress.js';
import { FETCHED_MARKER, fetchRelease, pruneFetched } from '../../deploy/fetchRelease.js';
import { archiveCommit, loadSource, storeSource } from '../../deploy/releaseSource.js';
import { testDatabase } from '../helpers/postgres.js';
import { git } from './deployHarness.js';
import { fixtureTemplate } from './fixtureApp.js';

const silent = createProgress({ out: () => undefined, err: () => undefined });

async function fixtureRepo(t: Test): Promise<{ dir: string; commit: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-source-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(fixtureTemplate(), dir, { recursive: true });
  await git(dir, 'init', '--quiet', '--initial-branch=main');
  await git(dir, 'config', 'user.email', 'test@hydra.invalid');
  await git(dir, 'config', 'user.name', 'Hydra test');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '--quiet', '-m', 'fixture app');
  return { dir, commit: await git(dir, 'rev-parse', 'HEAD') };
}

t.test('a node builds only from a ready release with an intact source', async (t) => {
  const db = await testDatabase(t);
  await migrate(db.pool);
  const { dir, commit } = await fixtureRepo(t);
  const archive = await archiveCommit({ ...(process.env as Record<string, string>), GIT_DIR: path.join(dir, '.git') }, commit);
  t.ok(archive.length > 100 && archive[0] === 0x1f && archive[1] === 0x8b, `git archive gave a gzip stream (${archive.length} bytes)`);

  await t.rejects(loadSource(db.pool, commit), { name: 'DeployError', step: 'fetch', message: `release ${commit.slice(0, 12)} is not recorded; push the commit again` });
  const id = Number((await db.pool.query<{ id: string }>("INSERT INTO releases (commit, path, status) VALUES ($1, '/elsewhere/dist', 'building') RETURNING id", [commit])).rows[0]!.id);
  await t.rejects(loadSource(db.pool, commit), { message: /is building; push the commit again/ });
  await db.pool.query("UPDATE releases SET status = 'failed', error = 'build: npm run build exited 1' WHERE id = $1", [id]);
  await t.rejects(loadSource(db.pool, commit), { message: /is failed \(build: npm run build exited 1\)/ });
  await db.pool.query("UPDATE releases SET status = 'ready', error = NULL, service_hashes = '{\"alpha\": \"x\"}' WHERE id = $1", [id]);
  await t.rejects(loadSource(db.pool, commit), { message: /has no source in the database .*push the commit again to store it/ });

  await storeSource(db.pool, id, 'dist', archive, 'node-a');
  const loaded = await loadSource(db.pool, commit);
  t.ok(loaded.archive.equals(archive), 'the stored archive comes back byte for byte');
  t.match(loaded, { appSubdir: 'dist', builtOn: 'node-a', serviceHashes: { alpha: 'x' } });

  // One byte changed in the database: refused before anything is written on the node.
  await db.pool.query('UPDATE release_sources SET archive = overlay(archive placing $2 from 40) WHERE release_id = $1', [id, Buffer.from([archive[39]! ^ 0xff])]);
  const releases = mkdtempSync(path.join(tmpdir(), 'hydra-releases-'));
  t.teardown(() => rmSync(releases, { recursive: true, force: true }));
  await t.rejects(fetchRelease(db.pool, commit, releases, process.env, silent), { step: 'fetch', message: /the source of release \w{12} is corrupted \(sha256 \w{12}, recorded \w{12}\); push the commit again/ });
  t.same(readdirSync(releases), [], 'nothing was left in the releases directory');
});

t.test("a node prunes only its own builds that nothing uses, and interrupted stagings", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-prune-fetched-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = (n: number) => String(n).repeat(40);
  for (const n of [1, 2, 3, 4, 5]) {
    mkdirSync(path.join(dir, c(n)));
    // 5 was pushed to this node: no marker, the receiver's prune owns it.
    if (n !== 5) writeFileSync(path.join(dir, c(n), FETCHED_MARKER), '{}');
  }
  mkdirSync(path.join(dir, `.fetch-${c(6)}-1`));
  const removed = pruneFetched(dir, new Set([c(1)]), [c(4), c(3), c(2), c(1)], 1);
  t.same(removed.sort(), [c(2), c(3)], 'the unused ones beyond the newest one are removed');
  t.same(readdirSync(dir).sort(), [c(1), c(4), c(5)], 'in use, newest and pushed-here releases stay; the stale staging is gone');
});
