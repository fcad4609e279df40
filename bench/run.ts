/**
 * `npm run bench [-- <name> …]`: runs the named benches (all when none is named), each
 * printing its numbers and writing bench/results/<name>.json; then one markdown table of the
 * headline figures (with their ratio to a limit or a peer measured in the same run), also
 * written to bench/results/summary.json.
 */
import { benchServers } from './benchServers.js';
import { table, writeResult } from './report.js';
import { summarize, type SummaryRow } from './summary.js';

// Imported when run, not before: the test helpers they use read DATABASE_URL and REDIS_URL when
// loaded, and those name the throwaway servers only once benchServers() has started them.
const benches: Record<string, () => Promise<unknown>> = {
  channels: async () => (await import('./channels.js')).benchChannels(),
  restart: async () => (await import('./restart.js')).benchRestart(),
  pipeline: async () => (await import('./pipeline.js')).benchPipeline(),
  swap: async () => (await import('./swap.js')).benchSwap(),
  memory: async () => (await import('./memory.js')).benchMemory(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown bench '${unknown[0]}'; choose from: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : Object.keys(benches);
const started = Date.now();
const rows: SummaryRow[] = [];
const took: Record<string, number> = {};
const servers = await benchServers();
process.stdout.write(`bench: using ${servers.summary}\n`);
try {
  for (const [i, name] of names.entries()) {
    process.stdout.write(`==> bench ${name} (${i + 1}/${names.length})\n`);
    const t0 = Date.now();
    rows.push(...summarize(name, await benches[name]!()));
    took[name] = Math.round((Date.now() - t0) / 1000);
  }
} finally {
  await servers.stop();
}
const seconds = (Date.now() - started) / 1000;
process.stdout.write(`\n## Summary\n\n${table(['bench', 'measurement', 'value', 'compared with', 'ratio'], rows.map((r) => [r.bench, r.measurement, r.value, r.against, r.ratio]))}\n`);
const file = writeResult('summary', { benches: names, secondsPerBench: took, seconds: Math.round(seconds), rows });
process.stdout.write(`\nbench: ${names.length} bench(es) done in ${seconds.toFixed(1)} s; wrote ${file}\n`);
