/**
 * The pipeline end to end: status frames POSTed to ingest (HTTP, batches of BATCH frames per
 * device), through packets.raw → parse → packets.parsed → state, observed as state changes on
 * the state service's SSE stream. Reports frames/s and the latency from the POST to the first
 * state change of each frame (p50/p99).
 *
 * The peer, measured in the same run: a raw Redis relay with the same three stream hops
 * (producer → s1 → relay → s2 → relay → s3 → consumer; XADD/XREADGROUP/XACK with ioredis),
 * carrying payloads of the same size. The ratio is what Hydra's services cost over bare Redis.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Redis } from 'ioredis';
import { encodeFrame, joinBatch } from '../services/packet/frame.js';
import { writeFleet } from '../services/packet/fleet.js';
import type { Fleet, ItemRecord, StateChangeV1 } from '../services/messages.js';
import { buildDist } from './build.js';
import { startBenchNode } from './pipelineNode.js';
import { percentiles, progress, table, writeResult } from './report.js';

const DEVICES = 8;
const ITEMS_PER_FRAME = 4;
const FRAMES = Number(process.env.BENCH_PIPELINE_FRAMES ?? 8_000);
const BATCH = 20;
const CONCURRENCY = 8;

const now = () => Number(process.hrtime.bigint()) / 1e6;

function makeFleet(): Fleet {
  return { sites: [{ id: 1, key: randomBytes(32).toString('hex'), devices: Array.from({ length: DEVICES }, (_, d) => ({ id: 100 + d, token: randomBytes(16).toString('hex'), detonators: [1, 2, 3, 4] })) }] };
}

function items(seq: number): ItemRecord[] {
  return Array.from({ length: ITEMS_PER_FRAME }, (_, i) => ({ item: i + 1, status: 'connected', faultCode: 0, voltage: 20 + (seq % 500) / 100, resistance: 3 + i / 10, delayMs: i * 25 }));
}

/** Subscribes to the state's SSE stream; calls back with each change. */
function sse(port: number, onChange: (c: StateChangeV1) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/state/stream', agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const data = event.split('\n').find((l) => l.startsWith('data: '));
          if (data && event.includes('event: change')) onChange(JSON.parse(data.slice(6)) as StateChangeV1);
        }
      });
      resolve(req);
    });
    req.on('error', reject);
  });
}

async function post(port: number, token: string, body: Buffer): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/ingest/packets`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-hydra-batch' }, body });
  if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
  const answer = (await res.json()) as { rejected: unknown[] };
  if (answer.rejected.length > 0) throw new Error(`ingest rejected frames: ${JSON.stringify(answer.rejected[0])}`);
}

async function runPipeline(): Promise<{ framesPerSec: number; latency: ReturnType<typeof percentiles>; frames: number }> {
  const fleet = makeFleet();
  const node = await startBenchNode((file) => writeFleet(file, fleet));
  try {
    const site = fleet.sites[0]!;
    const firstChange = new Map<string, number>();
    let changes = 0;
    const stream = await sse(node.port('state'), (c) => {
      changes++;
      const k = `${c.device}:${c.seq}`;
      if (!firstChange.has(k)) firstChange.set(k, now());
    });
    // Jobs: per device, batches of BATCH frames in sequence order.
    const perDevice = Math.ceil(FRAMES / DEVICES);
    const jobs: Array<{ device: number; token: string; from: number }> = [];
    for (let from = 1; from <= perDevice; from += BATCH) for (const d of site.devices) jobs.push({ device: d.id, token: d.token, from });
    const sentAt = new Map<string, number>();
    let next = 0;
    const t0 = now();
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const frames: Buffer[] = [];
        for (let seq = job.from; seq < job.from + BATCH && seq <= perDevice; seq++) frames.push(encodeFrame({ type: 'status', site: site.id, device: job.device, seq, deviceTs: Date.now(), blastId: 0, items: items(seq) }, site.key));
        const at = now();
        for (let i = 0; i < frames.length; i++) sentAt.set(`${job.device}:${job.from + i}`, at);
        await post(node.port('ingest'), job.token, joinBatch(frames));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const total = sentAt.size;
    progress(`pipeline: ${total} frames accepted by ingest in ${((now() - t0) / 1000).toFixed(1)} s; waiting for their state changes`);
    const deadline = Date.now() + 120_000;
    while (firstChange.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stream.destroy();
    if (firstChange.size < total) throw new Error(`only ${firstChange.size} of ${total} frames reached the state within 120 s`);
    const last = Math.max(...firstChange.values());
    const latencies = [...sentAt].map(([k, at]) => firstChange.get(k)! - at);
    progress(`pipeline: ${changes} state changes observed`);
    return { frames: total, framesPerSec: total / ((last - t0) / 1000), latency: percentiles(latencies, false) };
  } finally {
    await node.close();
  }
}

/** Three XREADGROUP → XADD relays between four streams, with payloads the size of a frame. */
async function runRelay(frames: number): Promise<{ framesPerSec: number; latency: ReturnType<typeof percentiles> }> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `hydra-bench-relay:${randomBytes(4).toString('hex')}:`;
  const keys = [0, 1, 2, 3].map((i) => `${prefix}s${i}`);
  const admin = new Redis(url);
  for (const k of keys) await admin.xgroup('CREATE', k, 'g', '0', 'MKSTREAM');
  const payload = randomBytes(54 + 6 + 14 * ITEMS_PER_FRAME).toString('base64');
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let stop = false;
  const hop = async (from: string, to: string | null) => {
    const conn = new Redis(url);
    while (!stop) {
      const reply = (await conn.xreadgroup('GROUP', 'g', 'c', 'COUNT', 100, 'BLOCK', 100, 'STREAMS', from, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) continue;
      const p = conn.pipeline();
      for (const [, f] of entries) {
        if (to) p.xadd(to, '*', ...f);
        else latencies.push(now() - sentAt[Number(f[1])]!);
      }
      p.xack(from, 'g', ...entries.map(([id]) => id));
      await p.exec();
    }
    conn.disconnect();
  };
  const hops = [hop(keys[0]!, keys[1]!), hop(keys[1]!, keys[2]!), hop(keys[2]!, keys[3]!), hop(keys[3]!, null)];
  const t0 = now();
  const producer = new Redis(url);
  for (let i = 0; i < frames; i += BATCH) {
    const p = producer.pipeline();
    for (let j = i; j < Math.min(frames, i + BATCH); j++) {
      sentAt[j] = now();
      p.xadd(keys[0]!, '*', 'n', String(j), 'frame', payload);
    }
    await p.exec();
  }
  while (latencies.length < frames) await new Promise((r) => setTimeout(r, 10));
  const elapsed = now() - t0;
  stop = true;
  await Promise.all(hops);
  producer.disconnect();
  await admin.del(...keys);
  admin.disconnect();
  return { framesPerSec: frames / (elapsed / 1000), latency: percentiles(latencies, false) };
}

export async function benchPipeline(): Promise<unknown> {
  buildDist();
  const pipe = await runPipeline();
  progress(`pipeline: ${Math.round(pipe.framesPerSec)} frames/s end to end, latency p50 ${pipe.latency.median} ms, p99 ${pipe.latency.p99} ms (${pipe.frames} frames)`);
  const relay = await runRelay(pipe.frames);
  progress(`raw Redis relay (3 hops): ${Math.round(relay.framesPerSec)} msgs/s, latency p50 ${relay.latency.median} ms, p99 ${relay.latency.p99} ms`);
  const ratio = { throughput: relay.framesPerSec / pipe.framesPerSec, p50: pipe.latency.median / Math.max(0.1, relay.latency.median), p99: pipe.latency.p99 / Math.max(0.1, relay.latency.p99) };
  process.stdout.write(`\n${table(['measurement', 'per s', 'p50 ms', 'p99 ms'], [
    ['pipeline (HTTP ingest → state change)', Math.round(pipe.framesPerSec), pipe.latency.median, pipe.latency.p99],
    ['raw Redis relay, same 3 hops', Math.round(relay.framesPerSec), relay.latency.median, relay.latency.p99],
    ['ratio relay/pipeline (throughput), pipeline/relay (latency)', ratio.throughput.toFixed(2), ratio.p50.toFixed(2), ratio.p99.toFixed(2)],
  ])}\n`);
  const file = writeResult('pipeline', { frames: pipe.frames, devices: DEVICES, itemsPerFrame: ITEMS_PER_FRAME, batch: BATCH, concurrency: CONCURRENCY, pipeline: pipe, relay, ratio });
  process.stdout.write(`\nwrote ${file}\n`);
  return { pipe, relay, ratio };
}
