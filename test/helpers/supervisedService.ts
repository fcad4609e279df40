/**
 * Test helpers for running one service instance as a real process under a Supervisor, the way
 * a node does, and for picking a free port so a restarted instance answers at the same URL.
 */
import type { Test } from 'tap';
import { serviceChildSpec } from '../../runtime/serviceChild.js';
import { Supervisor } from '../../supervisor/supervisor.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { freePort } from './freePort.js';

// Kept here too: most tests import it from this module.
export { freePort };

export interface SupervisedService {
  sup: Supervisor;
  /** The instance as the supervisor sees it now (pid, port, restarts…). */
  child(): ChildInfo;
  /** http://127.0.0.1:<port> of the instance. */
  base(): string;
}

/**
 * Starts `<id>` (module, env) under a one_for_one supervisor on a fixed free port; stopped at
 * teardown. Set `logsVar` in the environment (e.g. STATE_TEST_LOGS=1) to see its log lines.
 */
export async function superviseService(t: Test, o: { id: string; module: string; env: Record<string, string>; logsVar: string }): Promise<SupervisedService> {
  const sup = new Supervisor({
    id: 'services',
    strategy: 'one_for_one',
    intensity: 10,
    periodMs: 10_000,
    backoffInitialMs: 50,
    children: [
      serviceChildSpec({
        id: o.id,
        module: o.module,
        version: '1.0.0',
        env: { HYDRA_HEARTBEAT_MS: '100', ...o.env },
        port: await freePort(),
        startTimeoutMs: 30_000,
        ...(process.env[o.logsVar] ? {} : { output: () => undefined }),
      }),
    ],
  });
  await sup.start();
  t.teardown(() => sup.stop());
  const child = () => sup.whichChildren()[0]!;
  return { sup, child, base: () => `http://127.0.0.1:${child().port}` };
}
