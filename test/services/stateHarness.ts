/**
 * The state service as a real process for tests: a Supervisor running `services/state` with
 * serviceChildSpec, over a Redis prefix and a PostgreSQL database of the test's own, plus
 * helpers to publish `packet.parsed@1`, read `state.changes`, call the HTTP API, read the
 * instance's counters and SIGKILL it (the supervisor restarts it).
 */
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { Channel, createRedisTransport, type Envelope } from '../../channels/index.js';
import type { ItemRecord, PacketParsedV1, StateChangeV1 } from '../../services/messages.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { bearer, testApiToken } from '../helpers/apiTokens.js';
import { testDatabase, type TestDatabase } from '../helpers/postgres.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { superviseService } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';

const STATE = fileURLToPath(new URL('../../services/state/index.ts', import.meta.url));

export interface StateHarness {
  redis: TestRedis;
  db: TestDatabase;
  parsed: Channel;
  changes: Channel;
  child(): ChildInfo;
  /** http://127.0.0.1:<port> of the running instance. */
  base(): string;
  wsUrl(): string;
  /** A viewer API token on the instance's database, and its Authorization header. */
  token: string;
  auth: { authorization: string };
  /** Publishes one packet.parsed@1 per update. */
  publish(...updates: PacketParsedV1[]): Promise<void>;
  /** The instance's counters once `until` holds for them. */
  counters(until: (c: Record<string, number>) => boolean): Promise<Record<string, number>>;
  allChanges(): Promise<Array<Envelope<StateChangeV1>>>;
  /** Until packets.parsed has nothing pending or unread for the state group. */
  settled(): Promise<void>;
  kill(): Promise<void>;
  /** Stops the supervisor (SIGTERM to the instance, its graceful stop). */
  stop(): Promise<void>;
  getJson<T = unknown>(path: string): Promise<{ status: number; body: T }>;
}

export async function startState(t: Test, env: Record<string, string> = {}, options: { prepublish?: PacketParsedV1[] } = {}): Promise<StateHarness> {
  const redis = await testRedis(t);
  const db = await testDatabase(t);
  const transport = createRedisTransport({ url: redis.url, keyPrefix: redis.prefix });
  t.teardown(() => transport.close());
  const parsed = new Channel(transport, 'packets.parsed');
  const changes = new Channel(transport, 'state.changes');
  // Published before the instance starts, so its first read takes them all as one batch.
  if (options.prepublish?.length) await parsed.publishMany(options.prepublish.map((body) => ({ type: 'packet.parsed', v: 1, key: `${body.site}:${body.device}`, body })));
  const { sup, child, base } = await superviseService(t, {
    id: 'state#1',
    module: STATE,
    env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url, ...env },
    logsVar: 'STATE_TEST_LOGS',
  });

  const { token } = await testApiToken(db.url, 'viewer');
  const h: StateHarness = {
    token,
    auth: bearer(token),
    redis,
    db,
    parsed,
    changes,
    child,
    base,
    wsUrl: () => `ws://127.0.0.1:${child().port}/state/ws`,
    async publish(...updates) {
      await parsed.publishMany(updates.map((body) => ({ type: 'packet.parsed', v: 1, key: `${body.site}:${body.device}`, body })));
    },
    counters: (until) => waitFor('state counters', () => {
      const c = child().status?.counters;
      return c && until(c) ? c : null;
    }),
    async allChanges() {
      const rows = (await redis.redis.xrange(`${redis.prefix}state.changes`, '-', '+')) as Array<[string, string[]]>;
      return rows.map(([id, flat]) => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
        return { id, type: f.type!, v: Number(f.v), ts: Number(f.ts), key: f.key, body: JSON.parse(f.body!) as StateChangeV1 };
      });
    },
    async settled() {
      await waitFor('packets.parsed consumed and acknowledged', async () => {
        const g = (await parsed.groups()).find((x) => x.name === 'state');
        return g !== undefined && g.pending === 0 && g.lag === 0;
      });
    },
    async kill() {
      const before = child();
      process.kill(before.pid!, 'SIGKILL');
      await waitFor('the state service restarted', () => child().state === 'running' && child().pid !== before.pid && child().port !== null, 30_000);
    },
    stop: async () => void (await sup.stop()),
    async getJson<T>(path: string) {
      const res = await fetch(`${base()}${path}`, { headers: bearer(token) });
      return { status: res.status, body: (await res.json()) as T };
    },
  };
  return h;
}

/** A packet.parsed@1 body for one device. */
export function update(site: number, device: number, seq: number, items: Array<Partial<ItemRecord> & { item: number }>): PacketParsedV1 {
  return {
    site,
    device,
    seq,
    deviceTs: 1_700_000_000_000 + seq,
    frameType: 'status',
    blastId: 0,
    rawId: `0-${seq}`,
    items: items.map((i) => ({ status: 'connected', faultCode: 0, voltage: 24.1, resistance: 2.5, delayMs: 0, ...i })),
  };
}
