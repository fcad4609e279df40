/**
 * The simulated firing units and the frames they send, without any I/O: steady status frames
 * (a rotating window of detonators, voltage and resistance drifting a little, seq increasing),
 * whole blasts (arm → fire → complete with some misfires, or abort, or fault), and on request
 * replays (an old frame re-sent) and reordering (seq n+1 before n). Values are kept in wire
 * units so a record survives encoding exactly and the expected state equals the decoded one.
 */
import type { Fleet, FrameType, ItemRecord, ItemStatus } from '../messages.js';
import { encodeFrame } from '../packet/frame.js';
import { seededRandom, type Rng } from './random.js';

export type BlastOutcome = 'complete' | 'abort' | 'fault';

export interface SimFrame {
  /** Generation order, unique per Traffic (a replay gets its own id). */
  id: number;
  site: number;
  device: number;
  seq: number;
  type: FrameType;
  blastId: number;
  deviceTs: number;
  items: ItemRecord[];
  bytes: Buffer;
  kind: 'normal' | 'replay' | 'reordered';
  /** The blast this frame belongs to (arm, fire and the end frame). */
  blast?: BlastPlan;
  /** When it was first posted (set by the sender). */
  sentAt?: number;
}

export interface BlastPlan {
  site: number;
  device: number;
  blastId: number;
  outcome: BlastOutcome;
  expected: number;
  fired: number;
  misfired: number;
  faults: number;
  /** The frame types of this blast that ingest acknowledged. */
  acked: Set<FrameType>;
}

export interface TrafficOptions {
  /** Default random; the same seed gives the same frames (nonces and timestamps aside). */
  seed?: number;
  /** First sequence number of every unit; default 1. A later run against the same node must start above the last. */
  seqStart?: number;
  /** First blast id; default 1. */
  blastIdStart?: number;
  /** Detonators per status frame (a rotating window); default 50. */
  statusItems?: number;
  /** Chance that a status frame is followed by a replay of an older one; default 0. */
  replayRate?: number;
  /** Chance that a status frame and the next go out as n+1 before n; default 0. */
  reorderRate?: number;
  /** Chance that a detonator misfires in a completed blast; default 0.05 (at least one misfire when a unit has 4+ detonators). */
  misfireRate?: number;
  /** For devices whose fleet entry lists no detonators: ids 1..n; default 10. */
  detonatorsPerUnit?: number;
}

interface Detonator {
  item: number;
  status: ItemStatus;
  faultCode: number;
  centivolts: number;
  milliohms: number;
  delayMs: number;
}

export interface Unit {
  site: number;
  device: number;
  key: string;
  token: string;
  detonators: Detonator[];
  seq: number;
  cursor: number;
  /** Recent status frames, replay material. */
  recent: SimFrame[];
  blast: { plan: BlastPlan; step: 0 | 1 | 2 } | null;
}

export class Traffic {
  readonly units: Unit[] = [];
  readonly blasts: BlastPlan[] = [];
  private next = 0;
  private frameId = 0;
  private blastId: number;
  private readonly rng: Rng;
  private readonly o: Required<Omit<TrafficOptions, 'seed' | 'seqStart' | 'blastIdStart'>>;

  constructor(fleet: Fleet, options: TrafficOptions = {}) {
    this.rng = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.blastId = options.blastIdStart ?? 1;
    this.o = { statusItems: 50, replayRate: 0, reorderRate: 0, misfireRate: 0.05, detonatorsPerUnit: 10, ...stripUndefined(options) };
    for (const site of fleet.sites) {
      for (const d of site.devices) {
        const ids = d.detonators ?? Array.from({ length: this.o.detonatorsPerUnit }, (_, i) => i + 1);
        const detonators = ids.map((item, i) => ({ item, status: 'connected' as const, faultCode: 0, centivolts: this.rng.int(2350, 2450), milliohms: this.rng.int(2500, 3500), delayMs: i * 25 }));
        this.units.push({ site: site.id, device: d.id, key: site.key, token: d.token, detonators, seq: (options.seqStart ?? 1) - 1, cursor: 0, recent: [], blast: null });
      }
    }
    if (this.units.length === 0) throw new RangeError('fleet: no devices to simulate');
  }

  /** The next unit in turn sends: its blast's next frame if it is in one, else a status frame (plus any injected replay/reordering). */
  step(): SimFrame[] {
    const unit = this.units[this.next++ % this.units.length]!;
    if (unit.blast) return [this.blastFrame(unit)];
    if (this.rng.chance(this.o.reorderRate)) {
      const first = this.statusFrame(unit, 'reordered');
      return [this.statusFrame(unit, 'reordered'), first];
    }
    const frame = this.statusFrame(unit, 'normal');
    if (unit.recent.length > 1 && this.rng.chance(this.o.replayRate)) {
      const old = unit.recent[this.rng.int(1, unit.recent.length - 1)]!;
      return [frame, { ...old, id: this.frameId++, kind: 'replay' }];
    }
    return [frame];
  }

  /** The frames still owed by blasts in progress, so a run can end with every blast finished. */
  finishBlasts(): SimFrame[] {
    const frames: SimFrame[] = [];
    for (const unit of this.units) while (unit.blast) frames.push(this.blastFrame(unit));
    return frames;
  }

  /** Starts a blast on the first unit (in site-interleaved order from `hint`) that is not in one; null if all are. */
  startBlast(outcome: BlastOutcome, hint = this.blasts.length): BlastPlan | null {
    const order = interleaveSites(this.units);
    for (let i = 0; i < order.length; i++) {
      const unit = order[(hint + i) % order.length]!;
      if (unit.blast) continue;
      const plan: BlastPlan = { site: unit.site, device: unit.device, blastId: this.blastId++, outcome, expected: unit.detonators.length, fired: 0, misfired: 0, faults: 0, acked: new Set() };
      unit.blast = { plan, step: 0 };
      this.blasts.push(plan);
      return plan;
    }
    return null;
  }

  private statusFrame(unit: Unit, kind: SimFrame['kind']): SimFrame {
    const n = Math.min(this.o.statusItems, unit.detonators.length);
    const window: Detonator[] = [];
    for (let i = 0; i < n; i++) window.push(unit.detonators[(unit.cursor + i) % unit.detonators.length]!);
    unit.cursor = (unit.cursor + n) % unit.detonators.length;
    for (const d of window) {
      d.centivolts = clamp(d.centivolts + this.rng.int(-3, 3), 2200, 2600);
      d.milliohms = clamp(d.milliohms + this.rng.int(-5, 5), 2000, 4000);
    }
    const frame = this.frame(unit, 'status', 0, window, kind);
    unit.recent.unshift(frame);
    unit.recent.length = Math.min(unit.recent.length, 8);
    return frame;
  }

  private blastFrame(unit: Unit): SimFrame {
    const { plan, step } = unit.blast!;
    if (step === 0) {
      for (const d of unit.detonators) Object.assign(d, { status: 'armed', faultCode: 0 });
      unit.blast!.step = 1;
      return this.frame(unit, 'arm', plan.blastId, unit.detonators, 'normal', plan);
    }
    if (step === 1) {
      unit.blast!.step = 2;
      return this.frame(unit, 'fire', plan.blastId, [], 'normal', plan);
    }
    unit.blast = null;
    const dets = unit.detonators;
    if (plan.outcome === 'complete') {
      const misfires = new Set(dets.filter(() => this.rng.chance(this.o.misfireRate)).map((d) => d.item));
      if (misfires.size === 0 && dets.length >= 4) misfires.add(this.rng.pick(dets).item);
      for (const d of dets) d.status = misfires.has(d.item) ? 'misfire' : 'fired';
      plan.misfired = misfires.size;
      plan.fired = dets.length - misfires.size;
    } else {
      // On abort or fault the unit disarms; on fault the failing detonators report why.
      const faulty = plan.outcome === 'fault' ? new Set(dets.filter(() => this.rng.chance(0.1)).map((d) => d.item)) : new Set<number>();
      if (plan.outcome === 'fault' && faulty.size === 0) faulty.add(this.rng.pick(dets).item);
      for (const d of dets) Object.assign(d, faulty.has(d.item) ? { status: 'fault', faultCode: this.rng.int(1, 20) } : { status: 'connected', faultCode: 0 });
      plan.faults = faulty.size;
    }
    return this.frame(unit, plan.outcome, plan.blastId, dets, 'normal', plan);
  }

  private frame(unit: Unit, type: FrameType, blastId: number, dets: Detonator[], kind: SimFrame['kind'], blast?: BlastPlan): SimFrame {
    const items = dets.map((d) => ({ item: d.item, status: d.status, faultCode: d.faultCode, voltage: d.centivolts / 100, resistance: d.milliohms / 1000, delayMs: d.delayMs }));
    unit.seq += 1;
    const input = { type, site: unit.site, device: unit.device, seq: unit.seq, deviceTs: Date.now(), blastId, items };
    return { id: this.frameId++, ...input, bytes: encodeFrame(input, unit.key), kind, ...(blast ? { blast } : {}) };
  }
}

/** Units ordered site 1 unit 1, site 2 unit 1, …, site 1 unit 2, …: consecutive blasts land on different sites. */
function interleaveSites(units: Unit[]): Unit[] {
  const bySite = new Map<number, Unit[]>();
  for (const u of units) bySite.set(u.site, [...(bySite.get(u.site) ?? []), u]);
  const lists = [...bySite.values()];
  const out: Unit[] = [];
  for (let i = 0; out.length < units.length; i++) for (const l of lists) if (l[i]) out.push(l[i]!);
  return out;
}

function clamp(v: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, v));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
