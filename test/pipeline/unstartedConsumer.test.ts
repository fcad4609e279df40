/**
 * A consumer that has never started loses nothing (issue 14, finding 6). One node whose parse
 * instance is held before it starts (so the `parse` group does not exist yet, as when its
 * instance is placed on a node that is not up): frames are posted to ingest past packets.raw's
 * high-water mark. Ingest answers 202 up to the mark and 503 past it (the device retries), warns
 * naming the missing group and counts it in /metrics; nothing is trimmed, even after the
 * producer's retention interval. Then parse starts: every frame answered 202 reaches state.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Fleet } from '../../services/messages.js';
import { writeFleet } from '../../services/packet/fleet.js';
import { encodeFrame } from '../../services/packet/frame.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { pipelineNode } from './pipelineNode.js';

const HIGH_WATER_MARK = 100;
const SERVICES = fileURLToPath(new URL('../../dist/services/', import.meta.url));
const GATED_PARSE = fileURLToPath(new URL('./fixtures/gatedParse.mjs', import.meta.url));
const KEY = '5c'.repeat(32);
const TOKEN = 'token-7001-unstarted';
const FLEET: Fleet = { sites: [{ id: 7, key: KEY, devices: [{ id: 7001, token: TOKEN }] }] };

/** Frame n carries detonator n alone with sequence n: each accepted frame leaves its own row in state. */
function frame(n: number): Buffer {
  const items = [{ item: n, status: 'connected' as const, faultCode: 0, voltage: 24, resistance: 2.5, delayMs: 0 }];
  return encodeFrame({ type: 'status', site: 7, device: 7001, seq: n, deviceTs: 1_700_000_000_000 + n, blastId: 0, items }, KEY);
}

t.test('frames acknowledged while parse has never started all reach state once it starts', async (t) => {
  // While parse is held, the `services` supervisor is still starting, so the tree does not show
  // its children yet: ingest and state are up once they have logged `ready`.
  const node = await pipelineNode(t, {
    ready: (_services, output) => ['ingest', 'state'].every((s) => new RegExp(`"msg":"ready"[^\n]*"service":"${s}"|"service":"${s}"[^\n]*"msg":"ready"`).test(output)),
  });
  const gate = path.join(node.home, 'parse.gate');
  writeFleet(path.join(node.home, 'fleet.json'), FLEET);
  writeFileSync(
    path.join(node.home, 'topology.json'),
    JSON.stringify({
      strategy: 'one_for_one',
      intensity: 10,
      periodMs: 60_000,
      services: [
        { id: 'ingest', module: path.join(SERVICES, 'ingest/index.js'), env: { HYDRA_CHANNEL_HIGH_WATER_MARK: String(HIGH_WATER_MARK), INGEST_PUBLISH_TIMEOUT_MS: '300' } },
        { id: 'state', module: path.join(SERVICES, 'state/index.js') },
        // Last, so its held start holds no sibling's; a start timeout well past the test's length.
        { id: 'parse', module: GATED_PARSE, startTimeoutMs: 600_000, env: { PARSE_GATE: gate } },
      ],
    }),
  );
  await node.start().catch((err: Error) => {
    throw new Error(`${err.message}\n${node.output().slice(-3000)}`);
  });
  t.notMatch(node.output(), /"service":"parse"[^\n]*"msg":"ready"|"msg":"ready"[^\n]*"service":"parse"/, 'parse has not started');
  const redis = await import('ioredis').then(({ Redis }) => new Redis(node.env.REDIS_URL!));
  t.teardown(() => void redis.quit());
  const stream = `${node.env.HYDRA_KEY_PREFIX}packets.raw`;
  t.same(await redis.smembers(`${stream}:groups`), ['parse'], 'the node declared parse as a consumer of packets.raw before it ever ran');

  // Ports go out in topology order from the port base: ingest is first.
  const ingest = `http://127.0.0.1:${node.env.HYDRA_SERVICE_PORT_BASE}`;
  const accepted: number[] = [];
  const refused: number[] = [];
  const post = async (n: number) => {
    const res = await fetch(`${ingest}/ingest/packets`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${TOKEN}` }, body: frame(n) });
    await res.arrayBuffer();
    if (res.status === 202) accepted.push(n);
    else if (res.status === 503) refused.push(n);
    else t.fail(`frame ${n}: ${res.status}`);
  };
  let n = 1;
  for (; n <= 3 * HIGH_WATER_MARK; n++) await post(n);
  // Past the producer's retention interval (5 s): a producer that trims would have done so by the next publishes.
  await sleep(5_500);
  for (const end = n + 20; n < end; n++) await post(n);

  t.ok(accepted.length >= HIGH_WATER_MARK, `${accepted.length} frames answered 202, up to the high-water mark`);
  t.ok(accepted.length < 2 * HIGH_WATER_MARK, 'not far past it');
  t.ok(refused.length > 0, `${refused.length} frames answered 503 past the mark (the device retries them)`);
  t.ok((await redis.xlen(stream)) >= accepted.length, 'nothing was trimmed: every acknowledged frame is still in packets.raw');
  t.same(await redis.xinfo('GROUPS', stream), [], 'parse still has no group');
  t.match(node.output(), /publish held: a declared consumer of the channel has never started[^\n]*"missingGroups":\["parse"\]/, 'ingest warned, naming the missing group');

  writeFileSync(gate, '');
  const expected = accepted.map((x) => String(x));
  const rows = await waitFor(
    'every acknowledged frame in state',
    async () => {
      const r = await node.db.pool.query<{ item: string; seq: string }>('SELECT item::text, seq::text FROM item_state WHERE site = 7 AND device = 7001');
      const have = new Map(r.rows.map((row) => [row.item, row.seq]));
      return expected.every((item) => have.get(item) === item) ? r.rows : null;
    },
    60_000,
    250,
  );
  // The tree (and so /metrics) shows the services once their supervisor has started them all.
  const metrics = await waitFor('ingest in /metrics', async () => {
    const text = await (await fetch(`${node.admin()}/metrics`)).text();
    return /publishes_held_by_missing_groups[a-z_]*\{[^}]*ingest#1/.test(text) ? text : null;
  });
  t.match(metrics, /publishes_held_by_missing_groups[a-z_]*\{[^}]*ingest#1[^}]*\} [1-9]/, 'the held publishes are counted in /metrics');
  t.ok(rows.length >= accepted.length, `all ${accepted.length} frames answered 202 reached state (${rows.length} rows: a frame answered 503 whose publish was already under way may land too)`);
});
