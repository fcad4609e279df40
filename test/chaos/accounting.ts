/**
 * What a chaos run must end with, counted per acknowledged frame. A frame is acknowledged when
 * ingest answered its request 202 and did not list it in `rejected` (the simulator's rule,
 * sendRun.ts `settle`: any other status, 5xx included, acknowledges nothing). It is applied
 * when its effect is visible:
 * - each of its item updates (site, device, item, seq) came out of state in `state.changes`,
 *   or was overtaken: a newer seq of that item had reached state's input (packets.parsed, which
 *   state consumes in order) before the frame did, so state rightly ignored it as older. Replays and reordered pairs do
 *   that by design, and so does any frame delivered late: two parse instances share the work
 *   during a hot swap, and the entries of a killed one are taken over later;
 * - the final live state (`GET /state/items`) and the persisted one (`item_state`) hold, for
 *   every item, the newest acknowledged seq; a mismatch counts the frame carrying that seq;
 * - a blast frame without items (fire) is applied when its blast has its report, with the
 *   right outcome and counts; a missing or wrong report counts every frame of the blast.
 * lost = acknowledged - applied. duplicated = state changes beyond the first for one
 * (site, device, item, seq): the same update applied, or at least announced, twice.
 *
 * unannounced counts frames whose own state change never came out although they reached state
 * before any newer seq of their item did (or never reached it), while the final state is
 * right: the state is not wrong, but a reader of state.changes missed a step (what a crash
 * between state's flush and its acknowledgement did before item_state_superseded, see
 * docs/chaos.md). overtaken counts the frames state rightly ignored as older on arrival.
 */
import type pg from 'pg';
import type { StateChangeV1 } from '../../services/messages.js';
import type { RunStats, SimFrame, Simulator } from '../../services/simulator/simulator.js';

export interface Acked {
  frame: SimFrame;
  at: number;
}

/** Collects acknowledged frames from the simulator's `onAccepted`. */
export class AckLog {
  readonly frames: Acked[] = [];
  /** `site/device/seq` → the first time a frame with it was acknowledged. */
  private readonly firstAck = new Map<string, number>();

  readonly onAccepted = (frames: SimFrame[], at: number): void => {
    for (const frame of frames) {
      this.frames.push({ frame, at });
      const key = `${frame.site}/${frame.device}/${frame.seq}`;
      if (!this.firstAck.has(key)) this.firstAck.set(key, at);
    }
  };

  ackedAt(site: number, device: number, seq: number): number | undefined {
    return this.firstAck.get(`${site}/${device}/${seq}`);
  }
}

export interface Change {
  ms: number;
  body: unknown;
}

export interface Verdict {
  sent: number;
  acknowledged: number;
  applied: number;
  lost: number;
  duplicated: number;
  unannounced: number;
  overtaken: number;
  /** A few lines saying what is missing or doubled, for the failure message. */
  problems: string[];
}

interface ReportRow {
  site: number;
  device: number;
  blastId: number;
  outcome: string;
  summary: { expected: number; fired: number; misfired: number; faults: number };
}

interface HeldItem {
  site: number;
  device: number;
  item: number;
  seq: number;
}

export interface VerdictInput {
  sim: Simulator;
  stats: RunStats;
  acks: AckLog;
  changes: Change[];
  stateUrl: string;
  reportUrl: string;
  /** A viewer API token's header. */
  auth: { authorization: string };
  /** A direct pool on the node's database (item_state). */
  pool: pg.Pool;
  /** packets.parsed as written, when known: says when an unannounced frame reached state. */
  parsed?: Change[];
}

export async function verdict(o: VerdictInput): Promise<Verdict> {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const newest = new Map<string, number>();
  for (const { body } of o.changes) {
    const c = body as StateChangeV1;
    const key = `${c.site}/${c.device}/${c.item}/${c.seq}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const item = `${c.site}/${c.device}/${c.item}`;
    newest.set(item, Math.max(newest.get(item) ?? 0, c.seq));
  }
  let duplicated = 0;
  for (const [key, n] of seen) {
    if (n < 2) continue;
    duplicated += n - 1;
    if (problems.length < 8) problems.push(`state change ${key} came out ${n} times`);
  }

  // ---- final state, live and persisted -------------------------------------------------------
  const live = new Map<string, number>();
  for (const site of o.sim.fleet.sites) {
    const res = await fetch(`${o.stateUrl}/state/items?site=${site.id}`, { headers: o.auth });
    if (res.status !== 200) throw new Error(`GET /state/items?site=${site.id} answered ${res.status}`);
    for (const i of ((await res.json()) as { items: HeldItem[] }).items) live.set(`${i.site}/${i.device}/${i.item}`, i.seq);
  }
  const persisted = new Map<string, number>();
  for (const r of (await o.pool.query<HeldItem>('SELECT site::int, device::int, item::int, seq::int FROM item_state')).rows) persisted.set(`${r.site}/${r.device}/${r.item}`, r.seq);
  /** `site/device/seq` of frames whose item is not at its seq in the final state. */
  const stale = new Set<string>();
  for (const e of o.sim.expectedItems()) {
    const item = `${e.site}/${e.device}/${e.item}`;
    for (const [where, held] of [['live state', live], ['item_state', persisted]] as const) {
      if (held.get(item) === e.seq) continue;
      stale.add(`${e.site}/${e.device}/${e.seq}`);
      if (problems.length < 16) problems.push(`${where} holds item ${item} at seq ${held.get(item) ?? 'none'}, acknowledged up to ${e.seq}`);
    }
  }

  // ---- reports ------------------------------------------------------------------------------
  const res = await fetch(`${o.reportUrl}/reports?limit=1000`, { headers: o.auth });
  if (res.status !== 200) throw new Error(`GET /reports answered ${res.status}`);
  const reports = ((await res.json()) as { reports: ReportRow[] }).reports;
  const badBlasts = new Set<string>();
  for (const b of o.sim.expectedBlasts()) {
    const found = reports.filter((r) => r.site === b.site && r.device === b.device && r.blastId === b.blastId);
    const r = found[0];
    const ok = found.length === 1 && r!.outcome === b.outcome && r!.summary.expected === b.expected && r!.summary.fired === b.fired && r!.summary.misfired === b.misfired && r!.summary.faults === b.faults;
    if (ok) continue;
    badBlasts.add(`${b.site}/${b.device}/${b.blastId}`);
    if (problems.length < 20) problems.push(`blast ${b.site}/${b.device}/${b.blastId}: ${found.length} report(s) ${JSON.stringify(found.map((f) => ({ outcome: f.outcome, ...f.summary })))}, expected ${JSON.stringify(b)}`);
  }

  // packets.parsed in stream order, the order state consumes it in.
  const reached = new Map<string, number[]>();
  /** `site/device/item` → (position in packets.parsed, seq) of every update of it that reached state. */
  const arrivals = new Map<string, Array<{ at: number; seq: number }>>();
  (o.parsed ?? []).forEach(({ ms, body }, at) => {
    const p = body as { site: number; device: number; seq: number; items: Array<{ item: number }> };
    const key = `${p.site}/${p.device}/${p.seq}`;
    reached.set(key, [...(reached.get(key) ?? []), ms]);
    for (const { item } of p.items) {
      const k = `${p.site}/${p.device}/${item}`;
      arrivals.set(k, [...(arrivals.get(k) ?? []), { at, seq: p.seq }]);
    }
  });
  /** A newer seq of the item reached state's input before this frame did: state rightly ignored it. */
  const overtakenOnArrival = (site: number, device: number, item: number, seq: number): boolean => {
    const list = arrivals.get(`${site}/${device}/${item}`) ?? [];
    const first = list.find((a) => a.seq === seq)?.at;
    return first !== undefined && list.some((a) => a.seq > seq && a.at < first);
  };
  const arrival = (site: number, device: number, seq: number): string => {
    if (!o.parsed) return 'arrival unknown';
    const at = reached.get(`${site}/${device}/${seq}`);
    const acked = o.acks.ackedAt(site, device, seq) ?? 0;
    return at ? `in packets.parsed ${at.map((ms) => `${ms - acked} ms`).join(', ')} after its 202` : 'never in packets.parsed';
  };

  // ---- per acknowledged frame -----------------------------------------------------------------
  let applied = 0;
  let unannounced = 0;
  let overtaken = 0;
  for (const { frame } of o.acks.frames) {
    const silent = frame.items.filter((r) => !seen.has(`${frame.site}/${frame.device}/${r.item}/${frame.seq}`));
    const superseded = silent.filter((r) => (newest.get(`${frame.site}/${frame.device}/${r.item}`) ?? 0) > frame.seq);
    const missing = silent.filter((r) => !superseded.includes(r));
    const blastBad = frame.blast !== undefined && badBlasts.has(`${frame.blast.site}/${frame.blast.device}/${frame.blast.blastId}`);
    const isStale = stale.has(`${frame.site}/${frame.device}/${frame.seq}`);
    if (missing.length > 0 || blastBad || isStale) {
      if (problems.length < 24 && missing.length > 0) problems.push(`acknowledged ${frame.kind} ${frame.type} frame ${frame.site}/${frame.device} seq ${frame.seq}: no state change for item(s) ${missing.map((m) => m.item).join(', ')}; ${arrival(frame.site, frame.device, frame.seq)}`);
      continue;
    }
    applied++;
    if (superseded.length === 0) continue;
    // Superseded in the end: fine if it was older than what state held when it arrived.
    const unexplained = superseded.filter((r) => !overtakenOnArrival(frame.site, frame.device, r.item, frame.seq));
    if (unexplained.length === 0) {
      overtaken++;
    } else {
      unannounced++;
      if (problems.length < 24) problems.push(`acknowledged ${frame.kind} ${frame.type} frame ${frame.site}/${frame.device} seq ${frame.seq} (superseded later): no state change for item(s) ${unexplained.map((m) => m.item).join(', ')}; ${arrival(frame.site, frame.device, frame.seq)}`);
    }
  }
  const acknowledged = o.acks.frames.length;
  if (acknowledged !== o.stats.accepted) problems.push(`the simulator counted ${o.stats.accepted} accepted frames, onAccepted saw ${acknowledged}`);
  return { sent: o.stats.sent, acknowledged, applied, lost: acknowledged - applied, duplicated, unannounced, overtaken, problems };
}

/**
 * Time from `from` until the pipeline carries new data end to end again: the first state change
 * (by its stream time) of a frame acknowledged at or after `from`. Null if there is none.
 */
export function flowingAgainAfter(from: number, changes: Change[], acks: AckLog): number | null {
  for (const { ms, body } of changes) {
    if (ms < from) continue;
    const c = body as StateChangeV1;
    const at = acks.ackedAt(c.site, c.device, c.seq);
    if (at !== undefined && at >= from) return ms - from;
  }
  return null;
}
