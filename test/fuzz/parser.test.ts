/**
 * Fuzz of the frame parser, in process: random and mutated frames (frameFuzzer.ts) through
 * readHeader, decodeFrame and parse's parseRaw, and random and broken batches through
 * splitBatch. For every input: no exception other than a FrameError with a reason (parseRaw: a
 * value with a reason and a counter, never a throw), no input taking long (no hang), and whatever
 * is accepted really is valid: a decoded frame re-encodes to the very same bytes, a split batch
 * joins back to the very same body.
 *
 * HYDRA_FUZZ_COUNT cases (5 000 in `npm test`, 100 000 in `npm run test:chaos`); HYDRA_FUZZ_SEED
 * replays a run (the seed is printed).
 */
import t from 'tap';
import type { Envelope } from '../../channels/index.js';
import { decodeFrame, encodeFrame, FrameError, joinBatch, readHeader, splitBatch } from '../../services/packet/frame.js';
import { parseRaw } from '../../services/parse/parseRaw.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import { FrameFuzzer, fuzzCount, fuzzSeed } from './frameFuzzer.js';

const COUNT = fuzzCount('HYDRA_FUZZ_COUNT', 5_000);
const SEED = fuzzSeed();
/** A single parse of at most 16 KiB taking this long would be a hang in the making. */
const SLOW_MS = 250;

const fleet = makeFleet({ sites: 3, unitsPerSite: 3, detonatorsPerUnit: 40, seed: SEED });
const fuzz = new FrameFuzzer(SEED, fleet);
const envelope = (frame: unknown, id: string): Envelope => ({ id, type: 'packet.raw', v: 1, ts: 0, body: { frame, site: 1, device: 1001, seq: 1, receivedAt: 0 } });

/** Runs `fn`; returns its result, or the FrameError's reason; anything else is a finding. */
function outcome<T>(fn: () => T): { ok: T } | { reason: string } {
  try {
    return { ok: fn() };
  } catch (err) {
    if (err instanceof FrameError && typeof err.reason === 'string' && err.reason.length > 0) return { reason: err.reason };
    throw err;
  }
}

t.comment(`parser fuzz: ${COUNT} frames and ${Math.ceil(COUNT / 10)} batches, seed ${SEED} (HYDRA_FUZZ_SEED=${SEED} replays it)`);

t.test('frames: each is decoded exactly or refused with a reason', async (t) => {
  const findings: string[] = [];
  const reasons = new Map<string, number>();
  let accepted = 0;
  let slowest = 0;
  const started = Date.now();
  for (let i = 0; i < COUNT && findings.length < 10; i++) {
    const c = fuzz.frame();
    const key = fuzz.key(c.site)!;
    const t0 = performance.now();
    try {
      const header = outcome(() => readHeader(c.bytes));
      const decoded = outcome(() => decodeFrame(c.bytes, key));
      const parsed = parseRaw(envelope(c.bytes.toString('base64'), `1-${i}`), (site) => fuzz.key(site));
      if ('ok' in decoded) {
        accepted++;
        const { header: h, blastId, items } = decoded.ok;
        // Accepted means valid: the same input encodes to the same bytes (nonce from the frame).
        const again = encodeFrame({ type: h.type, site: h.site, device: h.device, seq: h.seq, deviceTs: h.deviceTs, blastId, items }, key, h.nonce);
        if (!again.equals(c.bytes)) findings.push(`case ${i} (${c.mutation}): decoded, but it does not re-encode to the same bytes`);
        if (!('ok' in header)) findings.push(`case ${i} (${c.mutation}): decodeFrame accepted what readHeader refused (${header.reason})`);
      } else {
        reasons.set(decoded.reason.replace(/\d+/g, 'N'), (reasons.get(decoded.reason.replace(/\d+/g, 'N')) ?? 0) + 1);
      }
      if ('reason' in parsed) {
        if (typeof parsed.reason !== 'string' || parsed.reason === '' || !/^dead_/.test(parsed.counter)) findings.push(`case ${i} (${c.mutation}): parseRaw refused without a reason or counter: ${JSON.stringify(parsed)}`);
      } else if (!('ok' in decoded) && fuzz.key(readHeader(c.bytes).site) === key) {
        findings.push(`case ${i} (${c.mutation}): parseRaw accepted what decodeFrame refused`);
      }
    } catch (err) {
      findings.push(`case ${i} (${c.mutation}, ${c.bytes.length} bytes ${c.bytes.subarray(0, 40).toString('hex')}…): threw ${(err as Error).name}: ${(err as Error).message}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }
  t.same(findings, [], `every frame decoded exactly or refused with a reason (seed ${SEED})`);
  t.ok(slowest < SLOW_MS, `no frame took long to refuse (slowest ${slowest.toFixed(1)} ms)`);
  t.ok(accepted > 0 && reasons.size >= 10, `valid frames were accepted (${accepted}) and many kinds refused (${reasons.size} reasons)`);
  t.comment(`${COUNT} frames in ${Date.now() - started} ms: ${accepted} valid; refusals: ${[...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ×${n}`).join('; ')}`);
});

t.test('parseRaw refuses malformed packet.raw bodies with a reason', async (t) => {
  const bodies: unknown[] = [null, 42, 'x', [], {}, { frame: 7 }, { frame: null }, { frame: '' }, { frame: '!!!not base64!!!' }, { frame: 'SEQ=' }, { frame: Buffer.alloc(100_000, 1).toString('base64') }];
  for (let i = 0; i < Math.min(COUNT / 10, 1_000); i++) bodies.push({ frame: fuzz.bytes(fuzz.rng.int(0, 200)).toString('base64') });
  const findings: string[] = [];
  bodies.forEach((body, i) => {
    try {
      const r = parseRaw({ id: `2-${i}`, type: 'packet.raw', v: 1, ts: 0, body }, (site) => fuzz.key(site));
      if (!('reason' in r) || r.reason === '') findings.push(`body ${i} ${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(r).slice(0, 100)}`);
    } catch (err) {
      findings.push(`body ${i} ${JSON.stringify(body).slice(0, 60)}: threw ${(err as Error).message}`);
    }
  });
  t.same(findings, [], `${bodies.length} malformed bodies each refused with a reason`);
});

t.test('batches: each is split exactly or refused with a reason', async (t) => {
  const findings: string[] = [];
  const reasons = new Map<string, number>();
  let split = 0;
  let slowest = 0;
  for (let i = 0; i < Math.ceil(COUNT / 10) && findings.length < 10; i++) {
    const frames = Array.from({ length: fuzz.rng.int(1, 20) }, () => fuzz.frame().bytes);
    const b = fuzz.batch(frames);
    const t0 = performance.now();
    try {
      const r = outcome(() => splitBatch(b.body));
      if ('ok' in r) {
        split++;
        if (!joinBatch(r.ok).equals(b.body)) findings.push(`batch ${i} (${b.mutation}): split, but the parts do not join back to the body`);
      } else {
        reasons.set(r.reason.replace(/\d+/g, 'N'), (reasons.get(r.reason.replace(/\d+/g, 'N')) ?? 0) + 1);
      }
    } catch (err) {
      findings.push(`batch ${i} (${b.mutation}, ${b.body.length} bytes): threw ${(err as Error).message}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }
  t.same(findings, [], `every batch split exactly or refused with a reason (seed ${SEED})`);
  t.ok(slowest < SLOW_MS, `no batch took long (slowest ${slowest.toFixed(1)} ms)`);
  t.ok(split > 0 && reasons.size >= 3, `batches were split (${split}) and refused for several reasons (${[...reasons.keys()].join('; ')})`);
});
