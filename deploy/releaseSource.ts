/**
 * A release's source in the database (table release_sources): the receiver archives the pushed
 * commit's tree there, so every node of the fleet can build the same release without reaching
 * the node the push went to. PostgreSQL already holds the truth about releases, every node
 * already talks to it, and an app's tree is small (Hydra's own: about 500 KB as tar.gz);
 * node_modules and build output are never stored, each node installs and builds for itself.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Db } from '../core/pgTransaction.js';
import { readReleaseSource, storeReleaseSource } from '../scheduler/store/releases.js';
import { DeployError } from './errors.js';

const run = promisify(execFile);

/** An archive larger than this is refused: it would be copied to every node through PostgreSQL. */
export const MAX_SOURCE_BYTES = 64 * 1024 * 1024;

export interface ReleaseSource {
  commit: string;
  /** The app root inside the release directory: 'dist', or '' for the directory itself. */
  appSubdir: string;
  archive: Buffer;
  sha256: string;
  builtOn: string;
  /** The per-service hashes the receiver computed: a node's own build must come out the same. */
  serviceHashes: Record<string, string>;
}

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The commit's tree as tar.gz (what `checkoutCommit` extracts), read from the deploy repository. */
export async function archiveCommit(gitEnv: Record<string, string>, commit: string): Promise<Buffer> {
  try {
    const { stdout } = await run('git', ['archive', '--format=tar.gz', commit], { env: gitEnv, encoding: 'buffer', maxBuffer: MAX_SOURCE_BYTES });
    return stdout;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') throw new DeployError('archive', `the tree of ${commit} is larger than ${MAX_SOURCE_BYTES / 1024 / 1024} MiB as tar.gz; keep build output and large assets out of the repository`);
    throw new DeployError('archive', `git archive ${commit}: ${e.message.split('\n')[0]}`);
  }
}

export async function storeSource(db: Db, releaseId: number, appSubdir: string, archive: Buffer, builtOn: string): Promise<void> {
  await storeReleaseSource(db, releaseId, { appSubdir, archive, sha256: sha256Of(archive), builtOn });
}

/**
 * The source of a ready release, or a DeployError saying why there is none to build from (not
 * ready, failed, pruned, or recorded before sources were kept).
 */
export async function loadSource(db: Db, commit: string): Promise<ReleaseSource> {
  const row = await readReleaseSource(db, commit);
  if (!row) throw new DeployError('fetch', `release ${commit.slice(0, 12)} is not recorded; push the commit again`);
  if (row.status !== 'ready') throw new DeployError('fetch', `release ${commit.slice(0, 12)} is ${row.status}${row.error ? ` (${row.error})` : ''}; push the commit again`);
  if (row.archive === null || row.appSubdir === null || row.sha256 === null || row.builtOn === null) {
    throw new DeployError('fetch', `release ${commit.slice(0, 12)} has no source in the database (it was recorded before sources were kept, or by hand); push the commit again to store it`);
  }
  const actual = sha256Of(row.archive);
  if (actual !== row.sha256) throw new DeployError('fetch', `the source of release ${commit.slice(0, 12)} is corrupted (sha256 ${actual.slice(0, 12)}, recorded ${row.sha256.slice(0, 12)}); push the commit again`);
  return { commit, appSubdir: row.appSubdir, archive: row.archive, sha256: row.sha256, builtOn: row.builtOn, serviceHashes: row.serviceHashes };
}
