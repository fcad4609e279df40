/**
 * Entry of the root-owned nginx helper. boot.sh copies the compiled nginx/ modules (and the two
 * core/ files they import) into a root-owned folder and writes /usr/local/sbin/hydra-nginx-apply,
 * which runs this file with fixed arguments; sudo lets the hydra user run that wrapper, without
 * arguments, and nothing else. Prints one JSON line (the result, or {state:'invalid', error});
 * exit 0 applied or unchanged, 1 nginx refused the config or the reload failed, 2 bad input.
 */
import { parseArgs } from 'node:util';
import { applyFromRoutes } from './applyFromRoutes.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      settings: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      nginx: { type: 'string' },
      pid: { type: 'string' },
      'no-reload': { type: 'boolean' },
    },
    strict: true,
  });
  const { settings, data, out, nginx, pid } = values;
  if (!settings || !data || !out || !nginx || !pid) {
    process.stdout.write(`${JSON.stringify({ state: 'invalid', error: 'usage: nginxApplyMain --settings FILE --data FILE --out FILE --nginx BIN --pid FILE [--no-reload]' })}\n`);
    return 2;
  }
  try {
    const result = await applyFromRoutes({ settingsFile: settings, dataFile: data, out, nginxBin: nginx, pidFile: pid, reload: !values['no-reload'] });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.state === 'rejected' || (result.state === 'applied' && result.reloadError) ? 1 : 0;
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ state: 'invalid', error: err instanceof Error ? err.message : String(err) })}\n`);
    return 2;
  }
}

process.exitCode = await main();
