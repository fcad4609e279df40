/**
 * The node daemon's life around its root supervisor: start it, wait for its end, and turn that
 * into the exit code (0 after a requested stop, 1 when it failed to start or gave up). A stop is
 * requested once, by SIGTERM/SIGINT or `POST /admin/stop`; a second signal during the stop exits
 * at once (the children go with the daemon: exit cleanup, IPC link). run/node.json is removed
 * whichever way the daemon ends.
 */
import type { Logger } from '../core/log.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { removeNodeFile } from './pidFile.js';

export interface NodeLifecycleOptions {
  nodeId: string;
  home: string;
  log: Logger;
  /** Human progress lines. */
  say: (line: string) => void;
  root: () => Supervisor;
}

/** Asks the node to stop, once; `requested` tells a stop from a failure when the root ends. */
export class NodeStop {
  private asked = false;

  constructor(private readonly o: NodeLifecycleOptions) {}

  get requested(): boolean {
    return this.asked;
  }

  request(why: string): void {
    if (this.asked) return;
    this.asked = true;
    this.o.log.info('node stopping', { why });
    this.o.say(`stopping node ${this.o.nodeId} (${why})`);
    void this.o.root().stop();
  }
}

export interface RunRootOptions extends NodeLifecycleOptions {
  stop: NodeStop;
  /** Logs and says that the node starts (once the signals are handled). */
  starting: () => void;
  /** What the progress lines say once the node runs. */
  running: () => { adminUrl: string; instances: number };
  startedAt: number;
}

/** Starts the root and resolves with the daemon's exit code once it has ended. */
export async function runRoot(o: RunRootOptions): Promise<number> {
  const { log, say, nodeId } = o;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!o.stop.requested) return o.stop.request(signal);
    log.warn('second signal during stop; exiting now', { signal });
    removeNodeFile(o.home);
    process.exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    o.starting();
    try {
      await o.root().start();
    } catch (err) {
      log.error('node failed to start', { err });
      say(`node ${nodeId} failed to start: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
    if (!o.stop.requested) {
      const { adminUrl, instances } = o.running();
      log.info('node running', { adminUrl, instances });
      say(`node ${nodeId} running: admin ${adminUrl}, ${instances} services`);
    }
    const reason = await o.root().exited;
    if (o.stop.requested && reason.normal) {
      log.info('node stopped', { uptimeMs: Date.now() - o.startedAt });
      say(`node ${nodeId} stopped`);
      return 0;
    }
    log.error('node root supervisor gave up; exiting 1', { reason: reason.reason });
    say(`node ${nodeId} failed: ${reason.reason}`);
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    removeNodeFile(o.home);
  }
}
