/**
 * The report service as a real process for tests: a Supervisor running `services/report` with
 * serviceChildSpec, over a Redis prefix and a PostgreSQL database of the test's own, plus
 * helpers to publish `packet.parsed@1` blast sequences, wait for the instance's counters, call
 * the HTTP API and SIGKILL the instance (the supervisor restarts it).
 */
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import type { FrameType, ItemRecord, PacketParsedV1 } from '../../services/messages.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { superviseService } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';

const REPORT = fileURLToPath(new URL('../../services/report/index.ts', import.meta.url));
export const T0 = 1_700_000_000_000;

export interface ReportHarness {
  redis: TestRedis;
  db: TestDatabase;
  parsed: Channel;
  child(): ChildInfo;
  /** http://127.0.0.1:<port> of the running instance. */
  base(): string;
  /** A viewer API token on the instance's database: get and getJson send it. */
  token: string;
  publish(...frames: PacketParsedV1[]): Promise<void>;
  /** The instance's counters once `until` holds for them. */
  counters(until: (c: Record<string, number>) => boolean): Promise<Record<string, number>>;
  /** Until packets.parsed has nothing pending or unread for the report group. */
  settled(): Promise<void>;
  kill(): Promise<void>;
  get(path: string): Promise<Response>;
  getJson<T = unknown>(path: string): Promise<{ status: number; body: T }>;
}

export async function startReport(t: Test): Promise<ReportHarness> {
  const redis = await testRedis(t);
  const db = await testDatabase(t);
  const transport = createRedisTransport({ url: redis.url, keyPrefix: redis.prefix });
  t.teardown(() => transport.close());
  const parsed = new Channel(transport, 'packets.parsed');
  const { sup, child, base } = await superviseService(t, {
    id: 'report#1',
    module: REPORT,
    env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url },
    logsVar: 'REPORT_TEST_LOGS',
  });
  const { token } = await testApiToken(db.url, 'viewer');
  return {
    redis,
    db,
    parsed,
    child,
    base,
    token,
    async publish(...frames) {
      await parsed.publishMany(frames.map((body) => ({ type: 'packet.parsed', v: 1, key: `${body.site}:${body.device}`, body })));
    },
    counters: (until) => waitFor('report counters', () => {
      const c = child().status?.counters;
      return c && until(c) ? c : null;
    }),
    async settled() {
      await waitFor('packets.parsed consumed and acknowledged by report', async () => {
        const g = (await parsed.groups()).find((x) => x.name === 'report');
        return g !== undefined && g.pending === 0 && g.lag === 0;
      });
    },
    async kill() {
      const before = child();
      process.kill(before.pid!, 'SIGKILL');
      await waitFor('the report service restarted', () => child().state === 'running' && child().pid !== before.pid && child().port !== null, 30_000);
    },
    get: (path) => fetch(`${base()}${path}`, { headers: bearer(token) }),
    async getJson<T>(path: string) {
      const res = await fetch(`${base()}${path}`, { headers: bearer(token) });
      return { status: res.status, body: (await res.json()) as T };
    },
  };
}

export interface BlastPlan {
  site: number;
  device: number;
  blastId: number;
  /** Sequence number of the arm frame; fire and end follow it. */
  seq: number;
  detonators: number[];
  outcome: 'complete' | 'abort' | 'fault';
  misfires?: number[];
  /** Detonator → fault code, in the end frame. */
  faults?: Record<number, number>;
}

/** The arm, fire and end frames of one blast; fire 1 200 ms after arm, the end 300 ms after fire. */
export function blastFrames(p: BlastPlan): [PacketParsedV1, PacketParsedV1, PacketParsedV1] {
  const record = (item: number, status: ItemRecord['status'], faultCode = 0): ItemRecord => ({ item, status, faultCode, voltage: 24 + item / 100, resistance: 2 + item / 1000, delayMs: item * 25 });
  const frame = (type: FrameType, offset: number, ts: number, items: ItemRecord[]): PacketParsedV1 => ({
    site: p.site, device: p.device, seq: p.seq + offset, deviceTs: ts, frameType: type, blastId: p.blastId, rawId: `0-${p.seq + offset}`, items,
  });
  const end = p.detonators.map((d) => {
    if (p.faults?.[d] !== undefined) return record(d, 'fault', p.faults[d]);
    if (p.outcome !== 'complete') return record(d, 'connected');
    return record(d, p.misfires?.includes(d) ? 'misfire' : 'fired');
  });
  return [
    frame('arm', 0, T0 + p.seq, p.detonators.map((d) => record(d, 'armed'))),
    frame('fire', 1, T0 + p.seq + 1_200, []),
    frame(p.outcome, 2, T0 + p.seq + 1_500, end),
  ];
}

/** A status frame, which the report service skips. */
export function statusFrame(site: number, device: number, seq: number, items: number[]): PacketParsedV1 {
  return { site, device, seq, deviceTs: T0 + seq, frameType: 'status', blastId: 0, rawId: `0-${seq}`, items: items.map((item) => ({ item, status: 'connected', faultCode: 0, voltage: 24, resistance: 2, delayMs: 0 })) };
}
