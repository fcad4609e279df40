/**
 * The reference pipeline end to end on a real node (daemon, supervisor, ingest, parse, state,
 * report as processes; real Redis and PostgreSQL): the simulator sends thousands of packets over
 * HTTP, two blasts among them; the node's state must equal what the simulator expects, each blast
 * must have a report with the right counts (JSON and PDF), and a WebSocket client bound to one
 * device must receive exactly that device's changes. Then the same with the state service
 * SIGKILLed in the middle, and with the whole node power-cut and started again in the middle.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import type { ItemRecord } from '../../services/messages.js';
import { writeFleet } from '../../services/packet/fleet.js';
import { makeFleet, Simulator } from '../../services/simulator/simulator.js';
import { StateClient, type ChangeMessage } from '../../services/state/client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { pipelineNode, type PipelineNode } from './pipelineNode.js';

type Disruption = 'none' | 'kill state' | 'power cut';

interface ReportSummary {
  expected: number;
  fired: number;
  misfired: number;
  faults: number;
}
interface ReportRow {
  id: string | number;
  site: number;
  device: number;
  blastId: number;
  outcome: string;
  summary: ReportSummary;
}

/** The viewer token of the running node's database (set once the node is made). */
let viewer: Record<string, string> = {};

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: viewer });
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

async function disrupt(t: Test, node: PipelineNode, how: Disruption): Promise<void> {
  if (how === 'kill state') {
    const pid = await node.pid('state');
    process.kill(pid, 'SIGKILL');
    await waitFor('state restarted with a new pid', async () => (await node.pid('state').catch(() => pid)) !== pid, 30_000, 100);
    t.pass(`state service (pid ${pid}) was SIGKILLed and came back`);
  } else if (how === 'power cut') {
    await node.powerCut();
    await sleep(500); // the node stays off a while, as after a real power cut
    await node.start();
    t.pass('node was power-cut (SIGKILL of the daemon, children followed) and started again');
  }
}

async function scenario(t: Test, how: Disruption): Promise<void> {
  const node = await pipelineNode(t);
  viewer = node.auth;
  const fleet = makeFleet({ sites: 2, unitsPerSite: 3, detonatorsPerUnit: 8, seed: 11 });
  writeFleet(path.join(node.home, 'fleet.json'), fleet);
  await node.start();
  const sim = new Simulator({ fleet, seed: 5, replayRate: 0.02, reorderRate: 0.02 });
  const watched = { site: fleet.sites[0]!.id, device: fleet.sites[0]!.devices[1]!.id };
  const ws = new StateClient({ url: `${(await node.url('state')).replace('http', 'ws')}/state/ws`, token: node.token, minBackoffMs: 50, maxBackoffMs: 500 });
  t.teardown(() => ws.close());
  const seen: ChangeMessage[] = [];
  const wsState = new Map<number, { seq: number; record: ItemRecord }>();
  ws.on('snapshot', (m) => m.items.forEach((i) => wsState.set(i.item, { seq: i.seq, record: i })));
  ws.on('change', (m) => {
    seen.push(m);
    const had = wsState.get(m.change.item);
    if (!had || m.change.seq > had.seq) wsState.set(m.change.item, { seq: m.change.seq, record: m.change.state });
  });
  ws.bind({ id: 'watched', site: watched.site, device: watched.device });
  await waitFor('the WebSocket client bound', () => ws.connected, 10_000);

  const run = sim.run({ url: await node.url('ingest'), rate: 500, durationMs: 6_000, blasts: 2, retryForMs: 60_000 });
  if (how !== 'none') {
    await sleep(2_500); // the disruption lands mid-load, with blasts in flight
    await disrupt(t, node, how);
  }
  const stats = await run;
  t.ok(stats.accepted >= 1_500, `thousands of frames accepted (${stats.accepted} of ${stats.sent}; ${stats.rejected} rejected, ${stats.failed} failed)`);
  t.equal(stats.rejected, 0, 'ingest rejected nothing the simulator sent');

  // ---- state --------------------------------------------------------------------------------
  const expected = sim.expectedItems();
  const stateUrl = await node.url('state');
  const mismatches = async () => {
    const held = new Map<string, { seq: number } & ItemRecord>();
    for (const site of fleet.sites) {
      const { items } = await json<{ items: Array<{ site: number; device: number; item: number; seq: number } & ItemRecord> }>(`${stateUrl}/state/items?site=${site.id}`);
      for (const i of items) held.set(`${i.site}/${i.device}/${i.item}`, i);
    }
    return expected.filter((e) => {
      const h = held.get(`${e.site}/${e.device}/${e.item}`);
      return !h || h.seq !== e.seq || h.status !== e.record.status || h.voltage !== e.record.voltage || h.resistance !== e.record.resistance || h.faultCode !== e.record.faultCode || h.delayMs !== e.record.delayMs;
    });
  };
  let left = expected;
  await waitFor('the node state to equal the simulator\'s', async () => (left = await mismatches()).length === 0, 60_000, 250).catch(() => undefined);
  t.same(left.slice(0, 5), [], `state holds every acknowledged item at its newest seq (${expected.length} items checked)`);

  // ---- reports ------------------------------------------------------------------------------
  const blasts = sim.expectedBlasts();
  t.equal(blasts.length, 2, 'two blasts were acknowledged');
  const reportUrl = await node.url('report');
  let reports: ReportRow[] = [];
  await waitFor('both reports', async () => (reports = (await json<{ reports: ReportRow[] }>(`${reportUrl}/reports`)).reports).length >= 2, 30_000, 250).catch(() => undefined);
  t.equal(reports.length, 2, 'exactly one report per blast');
  for (const b of blasts) {
    const r = reports.find((x) => x.site === b.site && x.device === b.device && x.blastId === b.blastId);
    t.ok(r, `a report for blast ${b.site}/${b.device}/${b.blastId}`);
    if (!r) continue;
    t.equal(r.outcome, b.outcome, 'outcome');
    t.match(r.summary, { expected: b.expected, fired: b.fired, misfired: b.misfired, faults: b.faults }, `counts of blast ${b.blastId}`);
    const pdf = Buffer.from(await (await fetch(`${reportUrl}/reports/${r.id}.pdf`, { headers: viewer })).arrayBuffer());
    t.equal(pdf.subarray(0, 5).toString(), '%PDF-', 'the PDF starts with %PDF-');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-pdf-'));
    writeFileSync(path.join(dir, 'r.pdf'), pdf);
    const { stdout } = await promisify(execFile)('pdftotext', ['-layout', path.join(dir, 'r.pdf'), '-']);
    for (const [label, value] of [['expected', b.expected], ['fired', b.fired], ['misfired', b.misfired]] as const) {
      t.match(stdout, new RegExp(`${label}\\D{0,40}${value}\\b`, 'i'), `the PDF text shows ${label} ${value}`);
    }
  }

  // ---- the WebSocket client -----------------------------------------------------------------
  const foreign = seen.filter((m) => m.change.site !== watched.site || m.change.device !== watched.device);
  t.same(foreign.length, 0, `the bound client received only its device's changes (${seen.length} changes)`);
  const mine = expected.filter((e) => e.site === watched.site && e.device === watched.device);
  await waitFor('the client to hold the device\'s final state', () => mine.every((e) => wsState.get(e.item)?.seq === e.seq), 15_000, 100).catch(() => undefined);
  t.same(mine.filter((e) => wsState.get(e.item)?.seq !== e.seq).map((e) => e.item), [], 'the client, without re-binding, ends with the device\'s final state');
}

t.test('state and reports equal what the simulator expects', (t) => scenario(t, 'none'));
t.test('the same with the state service SIGKILLed in the middle', (t) => scenario(t, 'kill state'));
t.test('the same with the whole node power-cut and restarted in the middle', (t) => scenario(t, 'power cut'));
