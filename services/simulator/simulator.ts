/**
 * The packet simulator as a library: a fleet's traffic (traffic.ts) sent to ingest by runs
 * (sendRun.ts), and the ledger of what ingest acknowledged, from which it derives the state and
 * the blast reports the node must end up with (ledger.ts).
 */
import type { Fleet, ItemRecord } from '../messages.js';
import { IngestClient } from './ingestClient.js';
import { Ledger, type ExpectedBlast, type ExpectedItem } from './ledger.js';
import { SendRun, type RunOptions, type RunStats } from './sendRun.js';
import { Traffic, type TrafficOptions, type Unit } from './traffic.js';

export { makeFleet, type MakeFleetOptions } from './makeFleet.js';
export type { ExpectedBlast, ExpectedItem } from './ledger.js';
export type { RunOptions, RunProgress, RunStats } from './sendRun.js';
export type { BlastOutcome, SimFrame, TrafficOptions } from './traffic.js';

export interface SimulatorOptions extends TrafficOptions {
  fleet: Fleet;
}

/**
 * Long-lived: it owns the units' sequence numbers and the ledger, so several runs in a row (say,
 * before and after a node restart) continue one device history and one expected state.
 */
export class Simulator {
  readonly fleet: Fleet;
  readonly traffic: Traffic;
  private readonly ledger = new Ledger();

  constructor(options: SimulatorOptions) {
    this.fleet = options.fleet;
    this.traffic = new Traffic(options.fleet, options);
  }

  /** `site/device/item` → the acknowledged record with the highest seq: what the node's state must hold. */
  expectedState(): Map<string, ItemRecord> {
    return this.ledger.state();
  }

  /** The same with each record's seq. */
  expectedItems(): ExpectedItem[] {
    return this.ledger.items();
  }

  /** Blasts whose arm, fire and end frames were all acknowledged, with the counts their reports must show. */
  expectedBlasts(): ExpectedBlast[] {
    return this.ledger.blasts(this.traffic.blasts);
  }

  /** Sends traffic for `durationMs`, then drains; throws if the URL never answered. */
  async run(o: RunOptions): Promise<RunStats> {
    for (const [field, value, min] of [['rate', o.rate, 0.001], ['durationMs', o.durationMs, 0], ['blasts', o.blasts ?? 0, 0], ['concurrency', o.concurrency ?? 1, 1], ['maxBatch', o.maxBatch ?? 1, 1]] as const) {
      if (!Number.isFinite(value) || value < min) throw new RangeError(`${field}: ${value} must be a number >= ${min}`);
    }
    const client = new IngestClient(o.url, { insecure: o.insecure ?? false, maxSockets: o.concurrency ?? 8, timeoutMs: o.timeoutMs ?? 15_000 });
    const units = new Map<string, Unit>(this.traffic.units.map((u) => [`${u.site}/${u.device}`, u]));
    const run = new SendRun(
      { traffic: this.traffic, unit: (f) => units.get(`${f.site}/${f.device}`)!, acknowledge: (frames) => frames.forEach((f) => this.ledger.ack(f)) },
      client,
      o,
    );
    try {
      return await run.go();
    } finally {
      client.close();
    }
  }
}
