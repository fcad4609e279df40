/**
 * The pipeline end to end: status frames POSTed to ingest (HTTP, batches of BATCH frames per
 * device), through packets.raw → parse → packets.parsed → state, observed as state changes on
 * the state service's SSE stream, one request in flight per device. Reports frames/s and the latency from the POST to the first
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

const now = () => Number(process.hrtime.bigint()) / 1e6;

function makeFleet(): Fleet {
  return { sites: [{ id: 1, key: randomBytes(32).toString('hex'), devices: Array.from({ length: DEVICES }, (_, d) => ({ id: 100 + d, token: randomBytes(16).toString('hex'), detonators: [1, 2, 3, 4] })) }] };
}

function items(seq: number): ItemRecord[] {
  return Array.from({ length: ITEMS_PER_FRAME }, (_, i) => ({ item: i + 1, status: 'connected', faultCode: 0, voltage: 20 + (seq % 500) / 100, resistance: 3 + i / 10, delayMs: i * 25 }));
}

/** Subscribes to the state's SSE stream for item 1 of every unit (one change per frame: a subscriber the size of an operator screen, not a firehose that SSE would drop as too slow); calls back with each change. */
function sse(port: number, token: string, onChange: (c: StateChangeV1) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/state/stream?site=1&item=1', headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
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

interface PhaseResult {
  frames: number;
  framesPerSec: number;
  latency: ReturnType<typeof percentiles>;
}

/**
 * One phase: FRAMES status frames, per device in sequence order from `firstSeq`, sent by
 * one request in flight per device, as fast as ingest answers (rate 0) or paced to `rate` frames/s.
 */
async function phase(ingestPort: number, site: Fleet['sites'][number], firstChange: Map<string, number>, firstSeq: number, rate: number): Promise<PhaseResult> {
  const perDevice = Math.ceil(FRAMES / DEVICES);
  const jobs: Array<{ device: number; token: string; from: number }> = [];
  for (let from = firstSeq; from < firstSeq + perDevice; from += BATCH) for (const d of site.devices) jobs.push({ device: d.id, token: d.token, from });
  const sentAt = new Map<string, number>();
  const t0 = now();
  // One request in flight per device, as a real firing unit sends: two concurrent batches of
  // one device could land out of order, and the state rightly ignores the older one.
  const worker = async (device: number) => {
    const mine = jobs.map((job, index) => ({ job, index })).filter((j) => j.job.device === device);
    for (const { job, index } of mine) {
      if (rate > 0) {
        const due = t0 + ((index * BATCH) / rate) * 1000;
        if (due > now()) await new Promise((r) => setTimeout(r, due - now()));
      }
      const frames: Buffer[] = [];
      for (let seq = job.from; seq < job.from + BATCH && seq < firstSeq + perDevice; seq++) frames.push(encodeFrame({ type: 'status', site: site.id, device: job.device, seq, deviceTs: Date.now(), blastId: 0, items: items(seq) }, site.key));
      const at = now();
      for (let i = 0; i < frames.length; i++) sentAt.set(`${job.device}:${job.from + i}`, at);
      await post(ingestPort, job.token, joinBatch(frames));
    }
  };
  await Promise.all(site.devices.map((d) => worker(d.id)));
  const deadline = Date.now() + Number(process.env.BENCH_WAIT_MS ?? 120_000);
  const reached = () => [...sentAt.keys()].every((k) => firstChange.has(k));
  while (!reached() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!reached()) throw new Error(`only ${[...sentAt.keys()].filter((k) => firstChange.has(k)).length} of ${sentAt.size} frames reached the state within 120 s (first missing: ${[...sentAt.keys()].find((k) => !firstChange.has(k))})`);
  const arrivals = [...sentAt.keys()].map((k) => firstChange.get(k)!);
  const latencies = [...sentAt].map(([k, at]) => firstChange.get(k)! - at);
  return { frames: sentAt.size, framesPerSec: sentAt.size / ((Math.max(...arrivals) - t0) / 1000), latency: percentiles(latencies, false) };
}

async function runPipeline(): Promise<{ saturated: PhaseResult; paced: PhaseResult; pacedRate: number }> {
  const fleet = makeFleet();
  const node = await startBenchNode((file) => writeFleet(file, fleet));
  try {
    const site = fleet.sites[0]!;
    const firstChange = new Map<string, number>();
    const stream = await sse(node.port('state'), node.token, (c) => {
      const k = `${c.device}:${c.seq}`;
      if (!firstChange.has(k)) firstChange.set(k, now());
    });
    const saturated = await phase(node.port('ingest'), site, firstChange, 1, 0);
    progress(`pipeline, saturated: ${Math.round(saturated.framesPerSec)} frames/s, latency p50 ${saturated.latency.median} ms, p99 ${saturated.latency.p99} ms (${saturated.frames} frames)`);
    // Latency without queueing: half the throughput just measured.
    const pacedRate = Math.max(50, Math.round(saturated.framesPerSec / 2));
    const paced = await phase(node.port('ingest'), site, firstChange, 1 + Math.ceil(FRAMES / DEVICES), pacedRate);
    progress(`pipeline, paced at ${pacedRate} frames/s: latency p50 ${paced.latency.median} ms, p99 ${paced.latency.p99} ms`);
    stream.destroy();
    return { saturated, paced, pacedRate };
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
  const { saturated, paced, pacedRate } = await runPipeline();
  const relay = await runRelay(saturated.frames);
  progress(`raw Redis relay (3 hops): ${Math.round(relay.framesPerSec)} msgs/s, latency p50 ${relay.latency.median} ms, p99 ${relay.latency.p99} ms`);
  const ratio = { throughput: relay.framesPerSec / saturated.framesPerSec, p50: saturated.latency.median / Math.max(0.1, relay.latency.median), p99: saturated.latency.p99 / Math.max(0.1, relay.latency.p99) };
  process.stdout.write(`\n${table(['measurement', 'per s', 'p50 ms', 'p99 ms'], [
    ['pipeline, saturated (HTTP ingest → state change)', Math.round(saturated.framesPerSec), saturated.latency.median, saturated.latency.p99],
    [`pipeline, paced at ${pacedRate}/s`, pacedRate, paced.latency.median, paced.latency.p99],
    ['raw Redis relay, same 3 hops, saturated', Math.round(relay.framesPerSec), relay.latency.median, relay.latency.p99],
    ['ratio, both saturated: relay/pipeline throughput, pipeline/relay latency', ratio.throughput.toFixed(2), ratio.p50.toFixed(2), ratio.p99.toFixed(2)],
  ])}\n`);
  const file = writeResult('pipeline', { frames: saturated.frames, devices: DEVICES, itemsPerFrame: ITEMS_PER_FRAME, batch: BATCH, concurrency: DEVICES, saturated, paced, pacedRate, relay, ratio });
  process.stdout.write(`\nwrote ${file}\n`);
  return { saturated, paced, relay, ratio };
}
