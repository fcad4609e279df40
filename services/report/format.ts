/**
 * How a report reads to a person, shared by the HTML page and the PDF so both say the same
 * thing in the same words: the count lines, the timing lines and the per-detonator table's
 * columns and cells. Times are the device's clock, shown as ISO 8601 UTC.
 */
import type { Report } from './reportStore.js';
import type { DetonatorRow } from './summarize.js';

const NONE = '—';

export function title(r: Report): string {
  return `Blast report: site ${r.site}, device ${r.device}, blast ${r.blastId}`;
}

export function outcomeLabel(r: Report): string {
  return { complete: 'Complete', abort: 'Aborted', fault: 'Fault' }[r.outcome];
}

export function countLines(r: Report): Array<[string, string]> {
  const s = r.summary;
  return [
    ['Detonators expected', String(s.expected)],
    ['Fired', String(s.fired)],
    ['Misfired', String(s.misfired)],
    ['Faults', String(s.faults)],
    ['Missing from the end frame', String(s.missing)],
  ];
}

export function timingLines(r: Report): Array<[string, string]> {
  const t = r.summary.timing;
  return [
    ['Armed at', time(t.armedAt)],
    ['Fired at', time(t.firedAt)],
    [r.outcome === 'complete' ? 'Completed at' : r.outcome === 'abort' ? 'Aborted at' : 'Faulted at', time(t.completedAt)],
    ['Arm to fire', duration(t.armToFireMs)],
    [r.outcome === 'complete' ? 'Fire to complete' : 'Fire to end', duration(t.fireToCompleteMs)],
  ];
}

export const TABLE_COLUMNS = ['Detonator', 'Delay (ms)', 'Voltage at arm (V)', 'Resistance at arm (ohm)', 'Final status', 'Fault code'] as const;

export function tableCells(d: DetonatorRow): string[] {
  return [
    String(d.id),
    d.delayMs === null ? NONE : String(d.delayMs),
    d.voltage === null ? NONE : d.voltage.toFixed(2),
    d.resistance === null ? NONE : d.resistance.toFixed(3),
    d.status ?? 'not reported',
    d.faultCode === null ? NONE : String(d.faultCode),
  ];
}

function time(ms: number | null): string {
  if (ms === null) return NONE;
  const d = new Date(ms);
  // A device clock far off (year 300 000) would make toISOString throw; show the raw number.
  return Number.isNaN(d.getTime()) ? `${ms} ms since epoch` : d.toISOString();
}

function duration(ms: number | null): string {
  return ms === null ? NONE : `${ms} ms`;
}
