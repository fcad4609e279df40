/**
 * The faults a chaos scenario injects, each at a time after the load started, and what each one
 * observed: when it was injected, when it was lifted (the kill sent, the power back on, the
 * connection restored, the swap done) and when what it took down was back (the service running
 * again under a new pid, the node up, Redis answering). Faults of one scenario may overlap.
 */
import { alive } from '../supervisor/workers.js';
import { sleep, waitFor } from '../helpers/wait.js';
import type { ChaosRig } from './chaosRig.js';

export type FaultSpec =
  /** SIGKILL of a service instance (a random one unless named). */
  | { kind: 'kill-service'; at: number; service?: string }
  /** SIGKILL of the daemon, its children and the node's Redis; Redis then the node start again after `downMs`. */
  | { kind: 'power-cut'; at: number; downMs?: number }
  /** SIGKILL of redis-server, started again after `downMs` on its AOF. */
  | { kind: 'redis-restart'; at: number; downMs?: number }
  /** Every connection to Redis dropped and new ones refused for `ms`. */
  | { kind: 'redis-cut'; at: number; ms: number }
  /** Every connection to PostgreSQL dropped and new ones refused for `ms`; the live state is queried meanwhile. */
  | { kind: 'pg-cut'; at: number; ms: number }
  /** A rolling update of a service (default parse) to another release: a hot swap. */
  | { kind: 'hot-swap'; at: number; service?: string };

export interface FaultResult {
  label: string;
  injectedAt: number;
  liftedAt: number;
  /** When what the fault took down answered again; null when nothing was down. */
  backAt: number | null;
  /** pg-cut: live-state queries during the cut, and how many failed. */
  queries?: { total: number; failed: number; lastError: string | null };
}

/** Picks with the scenario's seeded random, so a run can be repeated. */
export type Pick = <T>(list: readonly T[]) => T;

export async function inject(rig: ChaosRig, f: FaultSpec, pick: Pick): Promise<FaultResult> {
  const injectedAt = Date.now();
  switch (f.kind) {
    case 'kill-service': {
      // A placement's pid can be a moment stale (an instance just swapped or restarted): pick
      // among the live ones, and pick again if the chosen one is gone before the signal.
      let service = '';
      let pid = 0;
      for (let tries = 0; ; tries++) {
        const pids = Object.fromEntries(Object.entries(await rig.pids()).filter(([, p]) => alive(p)));
        const names = Object.keys(pids).sort();
        service = f.service ?? (names.length > 0 ? pick(names) : '(none running)');
        pid = pids[service] ?? 0;
        try {
          if (!pid) throw Object.assign(new Error(`${service} is not running`), { code: 'ESRCH' });
          process.kill(pid, 'SIGKILL');
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'ESRCH' || tries >= 50) throw new Error(`kill-service: ${(err as Error).message} (${JSON.stringify(pids)})`);
          await sleep(100); // a retry: the service picked may be between restarts
        }
      }
      const liftedAt = Date.now();
      await waitFor(`${service} to run again after its SIGKILL`, async () => {
        const now = (await rig.pids().catch(() => ({}) as Record<string, number>))[service];
        return now !== undefined && now !== pid && alive(now);
      }, 60_000, 25);
      return { label: `SIGKILL ${service}`, injectedAt, liftedAt, backAt: Date.now() };
    }
    case 'power-cut': {
      if (!rig.powerCut || !rig.start) throw new Error('power-cut needs a standalone node');
      const aof = await aofState(rig);
      await Promise.all([rig.powerCut(), rig.redis.kill('SIGKILL')]);
      await sleep(f.downMs ?? 1_000); // the outage's length is the fault
      const liftedAt = Date.now();
      await rig.redis.start();
      await rig.start();
      return { label: `power cut (daemon, children, Redis; ${aof})`, injectedAt, liftedAt, backAt: Date.now() };
    }
    case 'redis-restart': {
      const aof = await aofState(rig);
      await rig.redis.kill('SIGKILL');
      await sleep(f.downMs ?? 500); // the outage's length is the fault
      const liftedAt = Date.now();
      await rig.redis.start();
      return { label: `Redis SIGKILL + restart (AOF; ${aof})`, injectedAt, liftedAt, backAt: Date.now() };
    }
    case 'redis-cut': {
      rig.redisProxy.cut();
      await sleep(f.ms); // the outage's length is the fault
      rig.redisProxy.restore();
      return { label: `Redis unreachable ${f.ms / 1000} s`, injectedAt, liftedAt: Date.now(), backAt: null };
    }
    case 'pg-cut': {
      const stateUrl = await rig.url('state');
      // The reader's token is checked once while PostgreSQL is there: through the outage the
      // instance keeps that answer (runtime/apiAuth.ts), as it would for a dashboard already open.
      await fetch(`${stateUrl}/state/items?site=${rig.fleet.sites[0]!.id}`, { headers: rig.auth }).then((res) => res.arrayBuffer());
      rig.pgProxy.cut();
      const queries = { total: 0, failed: 0, lastError: null as string | null };
      const site = rig.fleet.sites[0]!.id;
      while (Date.now() - injectedAt < f.ms) {
        queries.total++;
        try {
          const res = await fetch(`${stateUrl}/state/items?site=${site}`, { headers: rig.auth, signal: AbortSignal.timeout(2_000) });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          await res.arrayBuffer();
        } catch (err) {
          queries.failed++;
          queries.lastError = (err as Error).message;
        }
        await sleep(200); // the pace of the queries made during the outage
      }
      rig.pgProxy.restore();
      return { label: `PostgreSQL unreachable ${f.ms / 1000} s`, injectedAt, liftedAt: Date.now(), backAt: null, queries };
    }
    case 'hot-swap': {
      if (!rig.swap) throw new Error('hot-swap needs a scheduled node');
      const service = f.service ?? 'parse';
      await rig.swap(service);
      return { label: `hot swap of ${service}`, injectedAt, liftedAt: Date.now(), backAt: null };
    }
  }
}

/**
 * Redis's AOF at the moment of a kill: a write postponed behind a slow background fsync
 * (`appendfsync everysec` does that for up to 2 s while still answering clients) is lost with
 * the process; aof_delayed_fsync counts the times it happened.
 */
async function aofState(rig: ChaosRig): Promise<string> {
  const info = await rig.observer.redis.info('persistence').catch(() => '');
  const field = (name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '?';
  return `fsync ${rig.redis.appendfsync}, delayed fsyncs ${field('aof_delayed_fsync')}, fsync pending ${field('aof_pending_bio_fsync')}`;
}
