/**
 * The summary of one blast from its frames (pure, no I/O): counts, timing from the device
 * timestamps, warnings about frames that were missing or inconsistent, and the per-detonator
 * table. The arm frame is the start snapshot (every detonator of the unit as armed); the end
 * frame (complete, abort or fault) is the end snapshot (every detonator's final status).
 *
 * Counting rules (docs in the report JSON are these numbers, so they are spelled out here):
 * - expected: detonators in the arm frame; without an arm frame, those of the end frame (warned).
 * - fired / misfired: end records with status `fired` / `misfire`.
 * - faults: distinct detonators with status `fault` or a fault code ≠ 0 in the arm or the end
 *   frame (so a fault frame's records count, and a detonator faulty at arm is not lost).
 * - missing: armed detonators the end frame does not mention.
 */
import type { ItemRecord, ItemStatus } from '../messages.js';

export type Outcome = 'complete' | 'abort' | 'fault';

/** One blast frame as kept in progress and in the report's snapshots. */
export interface FrameSnapshot {
  seq: number;
  deviceTs: number;
  items: ItemRecord[];
}

export interface EndSnapshot extends FrameSnapshot {
  frameType: Outcome;
}

export interface DetonatorRow {
  id: number;
  delayMs: number | null;
  /** Volts at arm; null when the arm frame did not list the detonator. */
  voltage: number | null;
  /** Ohms at arm. */
  resistance: number | null;
  /** Final status from the end frame; null when the end frame did not list the detonator. */
  status: ItemStatus | null;
  faultCode: number | null;
}

export interface BlastTiming {
  /** Device timestamps, epoch ms (device clock). */
  armedAt: number | null;
  firedAt: number | null;
  /** The end frame's timestamp, whatever the outcome. */
  completedAt: number;
  armToFireMs: number | null;
  fireToCompleteMs: number | null;
}

export interface BlastSummary {
  expected: number;
  fired: number;
  misfired: number;
  faults: number;
  missing: number;
  timing: BlastTiming;
  warnings: string[];
  detonators: DetonatorRow[];
}

export interface BlastFrames {
  arm: FrameSnapshot | null;
  fire: FrameSnapshot | null;
  end: EndSnapshot;
}

export function summarize({ arm, fire, end }: BlastFrames): BlastSummary {
  const warnings: string[] = [];
  const atArm = new Map((arm?.items ?? []).map((r) => [r.item, r]));
  const atEnd = new Map(end.items.map((r) => [r.item, r]));
  if (!arm) warnings.push('no arm frame was received; expected counts the detonators of the end frame');
  if (!fire && end.frameType === 'complete') warnings.push('no fire frame was received');

  const ids = [...new Set([...atArm.keys(), ...atEnd.keys()])].sort((a, b) => a - b);
  const faulty = (r: ItemRecord | undefined) => r !== undefined && (r.status === 'fault' || r.faultCode !== 0);
  const detonators: DetonatorRow[] = ids.map((id) => {
    const a = atArm.get(id);
    const e = atEnd.get(id);
    return {
      id,
      delayMs: a?.delayMs ?? e?.delayMs ?? null,
      voltage: a?.voltage ?? null,
      resistance: a?.resistance ?? null,
      status: e?.status ?? null,
      faultCode: e?.faultCode ?? null,
    };
  });

  const missing = arm ? [...atArm.keys()].filter((id) => !atEnd.has(id)) : [];
  if (missing.length > 0) warnings.push(`${missing.length} armed detonator(s) not in the ${end.frameType} frame: ${list(missing)}`);
  const unarmed = arm ? [...atEnd.keys()].filter((id) => !atArm.has(id)) : [];
  if (unarmed.length > 0) warnings.push(`${unarmed.length} detonator(s) in the ${end.frameType} frame were not armed: ${list(unarmed)}`);
  const faults = ids.filter((id) => faulty(atArm.get(id)) || faulty(atEnd.get(id))).length;
  if (end.frameType === 'fault' && faults === 0) warnings.push('the unit reported a fault without naming a faulty detonator');

  const armedAt = arm?.deviceTs ?? null;
  const firedAt = fire?.deviceTs ?? null;
  return {
    expected: arm ? atArm.size : atEnd.size,
    fired: end.items.filter((r) => r.status === 'fired').length,
    misfired: end.items.filter((r) => r.status === 'misfire').length,
    faults,
    missing: missing.length,
    timing: {
      armedAt,
      firedAt,
      completedAt: end.deviceTs,
      armToFireMs: armedAt !== null && firedAt !== null ? firedAt - armedAt : null,
      fireToCompleteMs: firedAt !== null ? end.deviceTs - firedAt : null,
    },
    warnings,
    detonators,
  };
}

/** The first ids of a list, so a warning stays one readable line. */
function list(ids: number[]): string {
  return ids.length <= 10 ? ids.join(', ') : `${ids.slice(0, 10).join(', ')}, …`;
}
