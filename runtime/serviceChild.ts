/**
 * The child spec of one service instance: an OS process (processChild) running the service
 * runtime (serviceMain) on the given service module. From TypeScript sources (tests, `tsx`)
 * the runtime runs as `serviceMain.ts` under `--import tsx`; from the build, as the compiled
 * `dist/runtime/serviceMain.js` beside this file.
 */
import { SHUTDOWN_MS } from '../supervisor/defaults.js';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpecError } from '../supervisor/errors.js';
import { ENV } from '../supervisor/ipc.js';
import { processChild, type ProcessChildOptions } from '../supervisor/processChild.js';
import type { ChildSpec, RestartType, Shutdown } from '../supervisor/types.js';

export interface ServiceChildOptions {
  /** The child id, e.g. `parse@1.2.0#1`: also the stable consumer name of the instance. */
  id: string;
  /** Absolute path of the service module (its default or `service` export is the manifest). */
  module: string;
  version?: string;
  /** Default permanent. */
  restart?: RestartType;
  /** Default 5000 ms: time to finish and ack the batch in hand after SIGTERM. */
  shutdown?: Shutdown;
  /** Extra environment (REDIS_URL, HYDRA_KEY_PREFIX, HYDRA_NODE_ID, service settings…). */
  env?: Record<string, string>;
  /** The HTTP port; absent or 0 = an ephemeral one when the service has routes. */
  port?: number;
  startTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** Node options added after the runtime's own (e.g. `--max-old-space-size=256`). */
  nodeArgs?: string[];
  /** Where the instance's log lines go; default: this process's stdout/stderr. */
  output?: ProcessChildOptions['output'];
  /** Told the pid once the process exists, and again when it has exited (the node's pid files). */
  onSpawn?: ProcessChildOptions['onSpawn'];
  onExit?: ProcessChildOptions['onExit'];
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? './serviceMain.ts' : './serviceMain.js', import.meta.url));

export function serviceChildSpec(opts: ServiceChildOptions): ChildSpec {
  if (typeof opts.module !== 'string' || !isAbsolute(opts.module)) throw new SpecError(`${opts.id}.module`, opts.module, 'the absolute path of a service module');
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)) throw new SpecError(`${opts.id}.port`, opts.port, 'an integer from 0 to 65535');
  const env: Record<string, string> = { ...opts.env, HYDRA_SERVICE_MODULE: opts.module };
  if (opts.port !== undefined) env[ENV.port] = String(opts.port);
  const spec: ChildSpec = {
    id: opts.id,
    kind: 'worker',
    restart: opts.restart ?? 'permanent',
    shutdown: opts.shutdown ?? SHUTDOWN_MS,
    start: processChild({
      id: opts.id,
      module: ENTRY,
      nodeArgs: [...(FROM_SOURCE ? ['--import', 'tsx'] : []), ...(opts.nodeArgs ?? [])],
      env,
      startTimeoutMs: opts.startTimeoutMs,
      heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
      output: opts.output,
      onSpawn: opts.onSpawn,
      onExit: opts.onExit,
    }),
  };
  if (opts.version !== undefined) spec.version = opts.version;
  return spec;
}
