/**
 * The simulator against a tiny in-test ingest that records every request: it sends per-device
 * batches with the device's token, frames that decode with the fleet keys, replays and reordered
 * frames when asked; it expects exactly what was acknowledged (highest seq per item); its blasts
 * are arm → fire → end with counts that agree with their records; it retries 503s, never has two
 * requests of one device in flight, and fails fast on an unreachable URL. Then the CLI.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { Fleet, FrameType, ItemRecord } from '../../services/messages.js';
import { loadFleet, validateFleet, writeFleet } from '../../services/packet/fleet.js';
import { decodeFrame, splitBatch, type DecodedFrame } from '../../services/packet/frame.js';
import { makeFleet, Simulator } from '../../services/simulator/simulator.js';
import { hydra } from '../node/nodeProcess.js';

interface Received {
  token: string;
  contentType: string;
  frames: DecodedFrame[];
  /** Indexes of frames answered as accepted. */
  accepted: boolean[];
  status: number;
}

interface FakeIngestOptions {
  /** Answer 503 to these request numbers (1-based), before looking at them. */
  unavailable?: (n: number) => boolean;
  /** Reject one frame with this reason, or accept it (undefined). */
  reject?: (f: DecodedFrame) => string | undefined;
  /** Whole-request status other than 202 for a device. */
  refuse?: (site: number, device: number) => number | undefined;
}

/** An ingest stand-in: authenticates by token, decodes every frame with the site key, answers like ingest. */
async function fakeIngest(t: Test, fleet: Fleet, o: FakeIngestOptions = {}) {
  const byToken = new Map(fleet.sites.flatMap((s) => s.devices.map((d) => [d.token, { site: s.id, device: d.id, key: s.key }] as const)));
  const received: Received[] = [];
  const inFlight = new Map<string, number>();
  let maxPerDevice = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = ++requests;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      inFlight.set(token, (inFlight.get(token) ?? 0) + 1);
      maxPerDevice = Math.max(maxPerDevice, inFlight.get(token)!);
      // Answer a little later, so overlapping requests of one device would be seen.
      setTimeout(() => {
        inFlight.set(token, inFlight.get(token)! - 1);
        const answer = (status: number, body: object): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (req.url !== '/ingest/packets' || req.method !== 'POST') return answer(404, { error: 'not found' });
        if (o.unavailable?.(n)) return answer(503, { error: 'busy' });
        const device = byToken.get(token);
        if (!device) return answer(401, { error: 'unknown device token' });
        const frames = splitBatch(Buffer.concat(chunks)).map((f) => decodeFrame(f, device.key));
        const record: Received = { token, contentType: req.headers['content-type'] ?? '', frames, accepted: [], status: 202 };
        received.push(record);
        const refused = o.refuse?.(device.site, device.device);
        if (refused) {
          record.status = refused;
          record.accepted = frames.map(() => false);
          return answer(refused, { error: 'refused by the test' });
        }
        const rejected: Array<{ index: number; reason: string }> = [];
        frames.forEach((f, index) => {
          const why = f.header.site !== device.site || f.header.device !== device.device ? 'frame from another device' : o.reject?.(f);
          if (why) rejected.push({ index, reason: why });
          record.accepted.push(!why);
        });
        answer(202, { accepted: frames.length - rejected.length, rejected });
      }, 2);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    maxPerDevice: () => maxPerDevice,
    /** The accepted frames in arrival order. */
    accepted: () => received.flatMap((r) => r.frames.filter((_, i) => r.accepted[i])),
  };
}

/** What a node would hold: per item the record of the highest seq among accepted frames. */
function stateOf(frames: DecodedFrame[]): Map<string, ItemRecord> {
  const held = new Map<string, { seq: number; record: ItemRecord }>();
  for (const f of frames) {
    for (const record of f.items) {
      const key = `${f.header.site}/${f.header.device}/${record.item}`;
      if ((held.get(key)?.seq ?? -1) < f.header.seq) held.set(key, { seq: f.header.seq, record });
    }
  }
  return new Map([...held].map(([k, v]) => [k, v.record]));
}

t.test('makeFleet makes a valid fleet of the asked shape with fresh secrets', async (t) => {
  const fleet = makeFleet({ sites: 3, unitsPerSite: 2, detonatorsPerUnit: 40, seed: 7 });
  t.same(validateFleet(fleet), fleet);
  t.same(fleet.sites.map((s) => s.id), [1, 2, 3]);
  t.same(fleet.sites[2]!.devices.map((d) => d.id), [3001, 3002]);
  for (const d of fleet.sites.flatMap((s) => s.devices)) t.equal(new Set(d.detonators).size, 40);
  const again = makeFleet({ sites: 3, unitsPerSite: 2, detonatorsPerUnit: 40, seed: 7 });
  t.same(again.sites[0]!.devices[0]!.detonators, fleet.sites[0]!.devices[0]!.detonators, 'the seed shapes the layout');
  t.not(again.sites[0]!.key, fleet.sites[0]!.key, 'keys are never derived from the seed');
  t.throws(() => makeFleet({ sites: 1, unitsPerSite: 1000, detonatorsPerUnit: 1 }), /unitsPerSite: 1000 is not an integer in 1..999/);
});

t.test('sends authenticated per-device batches; expects the highest acknowledged seq per item', async (t) => {
  const fleet = makeFleet({ sites: 2, unitsPerSite: 3, detonatorsPerUnit: 12, seed: 1 });
  const ingest = await fakeIngest(t, fleet, {
    unavailable: (n) => n % 7 === 0,
    reject: (f) => (f.header.type === 'status' && f.header.seq % 11 === 0 ? 'rejected by the test' : undefined),
  });
  const sim = new Simulator({ fleet, seed: 2, statusItems: 5, replayRate: 0.1, reorderRate: 0.1 });
  const stats = await sim.run({ url: ingest.url, rate: 1500, durationMs: 1200, concurrency: 4, maxBatch: 20 });

  t.ok(stats.sent > 1000, `sent ${stats.sent} frames`);
  t.equal(stats.accepted + stats.rejected, stats.sent, 'every frame answered');
  t.equal(stats.failed + stats.unsent, 0);
  t.ok(stats.retries > 0, `${stats.retries} requests retried after a 503`);
  t.ok(stats.rejected > 0 && stats.reasons['rejected by the test'] === stats.rejected, 'rejections counted by reason');
  t.equal(ingest.maxPerDevice(), 1, 'one request per device in flight at a time');

  const tokens = new Map(fleet.sites.flatMap((s) => s.devices.map((d) => [`${s.id}/${d.id}`, d.token])));
  let frames = 0;
  for (const r of ingest.received) {
    t.equal(r.contentType, 'application/x-hydra-batch');
    frames += r.frames.length;
    if (!r.frames.every((f) => tokens.get(`${f.header.site}/${f.header.device}`) === r.token)) t.fail('a frame of another device in the batch');
  }
  t.equal(frames, stats.sent, 'every frame decoded with its site key');

  const accepted = ingest.accepted();
  t.equal(accepted.length, stats.accepted);
  const seqs = new Map<string, number[]>();
  for (const f of accepted) seqs.set(`${f.header.site}/${f.header.device}`, [...(seqs.get(`${f.header.site}/${f.header.device}`) ?? []), f.header.seq]);
  const all = [...seqs.values()];
  t.ok(all.some((s) => new Set(s).size < s.length), 'some frames were replays');
  t.ok(all.some((s) => s.some((q, i) => i > 0 && q < s[i - 1]!)), 'some frames arrived out of order');

  const expected = sim.expectedState();
  t.equal(expected.size, 2 * 3 * 12, 'every item reported');
  t.same(expected, stateOf(accepted), 'expected state = highest seq per item of what ingest accepted');
  t.ok(sim.expectedItems().every((e) => expected.get(`${e.site}/${e.device}/${e.item}`) === e.record));
});

t.test('blasts are arm → fire → end frames whose records agree with the expected counts', async (t) => {
  const fleet = makeFleet({ sites: 2, unitsPerSite: 2, detonatorsPerUnit: 30, seed: 3 });
  const ingest = await fakeIngest(t, fleet);
  const sim = new Simulator({ fleet, seed: 4, blastIdStart: 500 });
  const stats = await sim.run({ url: ingest.url, rate: 400, durationMs: 600, blasts: 4, blastOutcomes: ['complete', 'fault', 'abort', 'complete'] });
  t.equal(stats.blasts, 4);
  const blasts = sim.expectedBlasts();
  t.same(blasts.map((b) => b.outcome), ['complete', 'fault', 'abort', 'complete']);
  t.same(blasts.map((b) => b.blastId), [500, 501, 502, 503]);
  t.equal(new Set(blasts.slice(0, 2).map((b) => b.site)).size, 2, 'consecutive blasts land on different sites');

  const frames = ingest.accepted();
  for (const b of blasts) {
    const mine = frames.filter((f) => f.header.site === b.site && f.header.device === b.device && f.blastId === b.blastId);
    const types: FrameType[] = mine.map((f) => f.header.type);
    t.same(types, ['arm', 'fire', b.outcome], `blast ${b.blastId}: arm, fire, ${b.outcome} in order`);
    const [arm, fire, end] = mine as [DecodedFrame, DecodedFrame, DecodedFrame];
    t.ok(arm.header.seq < fire.header.seq && fire.header.seq < end.header.seq, 'increasing seq');
    t.equal(b.expected, 30);
    t.equal(arm.items.length, b.expected, 'arm carries every detonator');
    t.ok(arm.items.every((i) => i.status === 'armed'));
    t.equal(fire.items.length, 0);
    const count = (s: ItemRecord['status']): number => end.items.filter((i) => i.status === s).length;
    t.same({ fired: count('fired'), misfired: count('misfire'), faults: count('fault') }, { fired: b.fired, misfired: b.misfired, faults: b.faults });
    if (b.outcome === 'complete') {
      t.equal(b.fired + b.misfired, b.expected);
      t.ok(b.misfired >= 1, 'a completed blast has some misfires');
    } else t.equal(b.fired + b.misfired, 0);
    if (b.outcome === 'fault') t.ok(b.faults >= 1 && end.items.filter((i) => i.status === 'fault').every((i) => i.faultCode > 0));
    // Status frames of the unit while it was in the blast would contradict it.
    t.notOk(frames.some((f) => f.header.site === b.site && f.header.device === b.device && f.header.type === 'status' && f.header.seq > arm.header.seq && f.header.seq < end.header.seq));
  }
  t.same(sim.expectedState(), stateOf(frames));
});

t.test('what ingest refused is not expected; a blast missing a frame is not expected', async (t) => {
  const fleet = makeFleet({ sites: 1, unitsPerSite: 2, detonatorsPerUnit: 5 });
  const ingest = await fakeIngest(t, fleet, { refuse: (_site, device) => (device === 1002 ? 413 : undefined) });
  const sim = new Simulator({ fleet });
  const stats = await sim.run({ url: ingest.url, rate: 200, durationMs: 300, blasts: 2 });
  t.ok(stats.rejected > 0);
  t.equal(stats.reasons['HTTP 413: refused by the test'], stats.rejected);
  t.same([...sim.expectedState().keys()].filter((k) => k.startsWith('1/1002/')), []);
  t.equal([...sim.expectedState().keys()].length, 5);
  t.same(sim.expectedBlasts().map((b) => b.device), [1001], 'the blast on the refused unit is not expected');
});

t.test('an unreachable URL fails the run with the reason', async (t) => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const sim = new Simulator({ fleet: makeFleet({ sites: 1, unitsPerSite: 1, detonatorsPerUnit: 2 }) });
  await t.rejects(sim.run({ url: `http://127.0.0.1:${port}`, rate: 50, durationMs: 2000 }), { message: `cannot reach http://127.0.0.1:${port}/ingest/packets: connect ECONNREFUSED 127.0.0.1:${port}` });
  t.equal(sim.expectedState().size, 0);
});

t.test('hydra simulate: writes a fleet file, reports progress and a summary; bad options exit 2', async (t) => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'hydra-sim-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const fleetFile = path.join(home, 'fleet.json');
  const env = { HYDRA_HOME: home };

  let r = await hydra(env, 'simulate', '--sites', 'two');
  t.equal(r.code, 2);
  t.match(r.stderr, "hydra simulate: --sites: expected an integer in 1..100000, got 'two'");
  r = await hydra(env, 'simulate', '--frobnicate');
  t.equal(r.code, 2);
  t.match(r.stderr, "unknown option '--frobnicate'");
  r = await hydra(env, 'simulate', '--url', 'ftp://x');
  t.equal(r.code, 2);
  t.match(r.stderr, "--url: 'ftp://x' is not an http:// or https:// URL");
  t.notOk(existsSync(fleetFile), 'nothing written for a usage error');

  r = await hydra(env, 'simulate', '--url', 'http://127.0.0.1:1', '--duration', '1');
  t.equal(r.code, 1);
  t.match(r.stderr, /^hydra simulate: cannot reach http:\/\/127\.0\.0\.1:1\/ingest\/packets: connect ECONNREFUSED/m);
  t.match(r.stdout, `wrote a new fleet file ${fleetFile}`);

  const fleet = makeFleet({ sites: 2, unitsPerSite: 2, detonatorsPerUnit: 8 });
  writeFleet(fleetFile, fleet);
  const ingest = await fakeIngest(t, fleet);
  r = await hydra(env, 'simulate', '--sites', '2', '--rate', '200', '--duration', '2.2', '--blast', '--url', ingest.url);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ +1s +sent \d+ +accepted \d+ +rejected 0/m, 'a progress line every second');
  t.match(r.stdout, /sent \d+ frames in \d+ requests over 2\.\d s: accepted \d+, rejected 0; \d+ frames\/s; 2 blast\(s\) acknowledged\n$/);
  t.same(loadFleet(fleetFile), fleet, 'an existing fleet file is used as it is');

  r = await hydra(env, 'simulate', '--rate', '100', '--duration', '0.5', '--url', ingest.url, '--json');
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { sent: number; accepted: number; expectedBlasts: unknown[] };
  t.ok(summary.sent > 0 && summary.accepted === summary.sent);
  t.same(summary.expectedBlasts, []);
});
