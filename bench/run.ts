/**
 * `npm run bench [-- <name> …]`: runs the named benches (all when none is named), each
 * printing its numbers and writing bench/results/<name>.json.
 */
import { benchChannels } from './channels.js';
import { benchPipeline } from './pipeline.js';
import { benchRestart } from './restart.js';
import { benchSwap } from './swap.js';

const benches: Record<string, () => Promise<unknown>> = {
  channels: benchChannels,
  restart: benchRestart,
  pipeline: benchPipeline,
  swap: benchSwap,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown bench '${unknown[0]}'; choose from: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : Object.keys(benches);
const started = Date.now();
for (const name of names) {
  process.stdout.write(`==> bench ${name}\n`);
  await benches[name]!();
}
process.stdout.write(`\nbench: ${names.length} bench(es) done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
