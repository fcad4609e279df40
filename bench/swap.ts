/**
 * `npm run bench -- swap`: 10 hot swaps of `parse` under a steady simulator load on a scheduled
 * pipeline node (each swap a rolling update to another release record of this checkout's
 * build: the code is the same, the swap machinery is the real one). Prints the pause each swap
 * causes in the stream of state changes (p50/p99), next to the longest gaps of equal windows
 * without a swap in the same run, and the messages lost and duplicated (both must be 0).
 * Writes bench/results/swap.json.
 */
import { scheduledPipeline } from '../test/pipeline/scheduledPipeline.js';
import { swapUnderLoad } from '../test/pipeline/swapLoad.js';
import { buildDist } from './build.js';
import { percentiles, progress, table, writeResult } from './report.js';

const SWAPS = 10;
const RATE = 300;

export async function benchSwap(): Promise<unknown> {
  buildDist();
  const teardowns: Array<() => unknown> = [];
  try {
    progress('starting a scheduled pipeline node (ingest, parse, state, report)…');
    const p = await scheduledPipeline({ teardown: (fn) => void teardowns.push(fn) }, { logLevel: 'warn' });
    progress(`load: ${RATE} frames/s; ${SWAPS} swaps of parse`);
    const m = await swapUnderLoad(p, {
      swaps: SWAPS,
      rate: RATE,
      onSwap: (i, s) => progress(`swap ${i + 1}/${SWAPS}: ${s.tookMs} ms, parse pid ${s.parsePidBefore} → ${s.parsePidAfter}`),
    });
    const pauses = percentiles(m.swaps.map((s) => s.pauseMs));
    const baseline = percentiles(m.baselinePausesMs.length > 0 ? m.baselinePausesMs : [0]);
    const took = percentiles(m.swaps.map((s) => s.tookMs));
    const othersUnchanged = JSON.stringify(m.othersBefore) === JSON.stringify(m.othersAfter);
    process.stdout.write(
      `\n${table(
        ['measurement', 'p50', 'p99', 'max'],
        [
          ['longest state-change pause during a swap (ms)', pauses.median, pauses.p99, pauses.max],
          ['longest pause in equal windows without a swap (ms)', baseline.median, baseline.p99, baseline.max],
          ['swap (deployment) duration, incl. 300 ms health window (ms)', took.median, took.p99, took.max],
        ],
      )}\n\n`,
    );
    const ratio = baseline.median > 0 ? pauses.median / baseline.median : null;
    process.stdout.write(
      `frames accepted ${m.stats.accepted} of ${m.stats.sent}; state changes ${m.stateChanges}; lost ${m.lost}; duplicated ${m.duplicated}; ` +
        `other services' pids unchanged: ${othersUnchanged ? 'yes' : 'NO'}; pause p50 / baseline p50 = ${ratio === null ? 'n/a' : `${ratio.toFixed(2)}x`}\n`,
    );
    const file = writeResult('swap', {
      swaps: SWAPS,
      rate: RATE,
      pauseMs: pauses,
      baselinePauseMs: baseline,
      swapDurationMs: took,
      pauseToBaseline: ratio,
      accepted: m.stats.accepted,
      sent: m.stats.sent,
      stateChanges: m.stateChanges,
      lost: m.lost,
      duplicated: m.duplicated,
      othersUnchanged,
    });
    progress(`wrote ${file}`);
    return { pauseMs: pauses, baselinePauseMs: baseline, swapDurationMs: took, pauseToBaseline: ratio, lost: m.lost, duplicated: m.duplicated, othersUnchanged };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}
