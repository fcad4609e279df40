/**
 * Where a release's app root is on this node. The node a push went to has it under its own
 * releases directory. Any other node builds it here from its source in the database (deploy/fetchRelease.ts),
 * in the background and one release at a time: the reconciler is told "preparing" meanwhile and
 * keeps whatever version runs now, so a slow build never stalls the node's other services.
 * A failed build is retried after a growing backoff, its reason reported on the placement.
 */
import { backoff } from '../core/backoff.js';
import { existsSync } from 'node:fs';
import type pg from 'pg';
import { hasSourceForCommit, readyReleases, releasesInUse } from '../scheduler/store/releases.js';
import { fetchRelease, localAppRoot, pruneFetched } from '../deploy/fetchRelease.js';
import { messageOf } from '../core/errors.js';
import type { Progress } from '../deploy/progress.js';
import type { Logger } from '../core/log.js';

export type Located = { kind: 'here'; appRoot: string } | { kind: 'preparing'; detail: string } | { kind: 'failed'; detail: string };

export interface ReleaseLocatorOptions {
  /** This node's `$HYDRA_HOME/releases`. */
  releasesDir: string;
  /** The database while the store link is up. */
  pool: () => pg.Pool | null;
  /** The environment npm and the build run with. */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Fetched releases kept besides those in use (default 3). */
  keep?: number;
}

const RETRY_MIN_MS = 10_000;
const RETRY_MAX_MS = 600_000;

interface Failure {
  detail: string;
  retryAt: number;
  /** Failed builds in a row, for the backoff. */
  attempts: number;
}

export class ReleaseLocator {
  private readonly building = new Map<string, { since: number; step: string }>();
  private readonly failures = new Map<string, Failure>();
  /** Builds run one after the other: two npm ci and two builds at once would only both be slow. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: ReleaseLocatorOptions) {}

  /**
   * This node's own copy first (pushed here, or built here before); then, for a release whose
   * source the database holds, a build of it here (even when the recorded path is readable: a
   * directory of another node's HYDRA_HOME is that node's to prune); then the recorded path, for
   * releases recorded by hand or before sources were kept.
   */
  async locate(commit: string, recordedPath: string): Promise<Located> {
    const local = localAppRoot(this.options.releasesDir, commit);
    if (local) return { kind: 'here', appRoot: local };
    const short = commit.slice(0, 12);
    const job = this.building.get(commit);
    if (job) return { kind: 'preparing', detail: `building release ${short} on this node (${job.step}, ${Math.round((performance.now() - job.since) / 1000)} s so far)` };
    const failure = this.failures.get(commit);
    if (failure && performance.now() < failure.retryAt) {
      return { kind: 'failed', detail: `${failure.detail} (next attempt in ${Math.ceil((failure.retryAt - performance.now()) / 1000)} s)` };
    }
    if (await this.hasSource(commit)) {
      this.start(commit);
      return { kind: 'preparing', detail: `building release ${short} on this node (queued)` };
    }
    if (existsSync(recordedPath)) return { kind: 'here', appRoot: recordedPath };
    return { kind: 'failed', detail: `release ${short} is not on this node (${recordedPath} does not exist here) and the database holds no source to build it from; push the commit again` };
  }

  private async hasSource(commit: string): Promise<boolean> {
    const pool = this.options.pool();
    if (!pool) return false;
    return hasSourceForCommit(pool, commit);
  }

  private start(commit: string): void {
    const { log } = this.options;
    const job = { since: performance.now(), step: 'queued' };
    this.building.set(commit, job);
    const progress: Progress = {
      step: (message) => {
        job.step = message.split(':')[0] ?? message;
        log.info(message, { release: commit });
      },
      output: (label, line) => log.debug(line, { release: commit, from: label }),
      error: (message) => log.warn(message, { release: commit }),
    };
    this.queue = this.queue.then(async () => {
      const pool = this.options.pool();
      try {
        if (!pool) throw new Error('the database is not reachable, so the release source cannot be read');
        const fetched = await fetchRelease(pool, commit, this.options.releasesDir, this.options.env, progress);
        this.failures.delete(commit);
        log.info('release built on this node', { release: commit, appRoot: fetched.appRoot, builtOn: fetched.builtOn, ms: fetched.ms });
        await this.prune(pool);
      } catch (err) {
        const previous = this.failures.get(commit);
        const attempts = previous ? previous.attempts + 1 : 0;
        const backoffMs = backoff(attempts, { baseMs: RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
        const detail = `release ${commit.slice(0, 12)} could not be built on this node: ${messageOf(err)}`;
        this.failures.set(commit, { detail, attempts, retryAt: performance.now() + backoffMs });
        log.warn('release could not be built on this node', { release: commit, detail, retryInMs: backoffMs });
      } finally {
        this.building.delete(commit);
      }
    });
  }

  private async prune(pool: pg.Pool): Promise<void> {
    try {
      const inUse = await releasesInUse(pool);
      // '' is no commit: every ready release, newest first.
      const newest = await readyReleases(pool, '');
      const removed = pruneFetched(this.options.releasesDir, inUse, newest.map((r) => r.commit), this.options.keep ?? 3);
      if (removed.length > 0) this.options.log.info('removed releases this node built and no longer uses', { releases: removed });
    } catch (err) {
      this.options.log.warn('could not prune the releases this node built; they stay on disk', { err });
    }
  }
}
