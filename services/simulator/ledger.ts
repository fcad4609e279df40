/**
 * What ingest acknowledged, and what the node must therefore hold: per item the record with the
 * highest seq (the state service's rule, so replays and reordering change nothing), and per blast
 * the counts of its report once all three of its frames (arm, fire, end) were acknowledged.
 */
import type { ItemRecord } from '../messages.js';
import type { BlastOutcome, BlastPlan, SimFrame } from './traffic.js';

export interface ExpectedItem {
  site: number;
  device: number;
  item: number;
  seq: number;
  record: ItemRecord;
}

export interface ExpectedBlast {
  site: number;
  device: number;
  blastId: number;
  /** Detonators armed (every detonator of the unit). */
  expected: number;
  fired: number;
  misfired: number;
  faults: number;
  outcome: BlastOutcome;
}

export class Ledger {
  private readonly held = new Map<string, ExpectedItem>();

  ack(frame: SimFrame): void {
    for (const record of frame.items) {
      const key = `${frame.site}/${frame.device}/${record.item}`;
      const had = this.held.get(key);
      if (!had || frame.seq > had.seq) this.held.set(key, { site: frame.site, device: frame.device, item: record.item, seq: frame.seq, record });
    }
    frame.blast?.acked.add(frame.type);
  }

  state(): Map<string, ItemRecord> {
    return new Map([...this.held].map(([key, e]) => [key, e.record]));
  }

  items(): ExpectedItem[] {
    return [...this.held.values()];
  }

  blasts(plans: readonly BlastPlan[]): ExpectedBlast[] {
    return plans
      .filter((p) => p.acked.has('arm') && p.acked.has('fire') && p.acked.has(p.outcome))
      .map(({ site, device, blastId, expected, fired, misfired, faults, outcome }) => ({ site, device, blastId, expected, fired, misfired, faults, outcome }));
  }
}
