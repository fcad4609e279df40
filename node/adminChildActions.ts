/**
 * The admin API's child actions: restart, terminate and start one child of the node's tree by its
 * path, through the supervisor's own calls (OTP terminate_child / restart_child, served on the
 * queue of the supervisor that owns the child), with their refusals as HTTP answers: an unknown
 * path is 404, a child that runs (or waits out its restart backoff) where it must not is 409.
 */
import { ChildRunning, NoSuchChild } from '../supervisor/errors.js';
import type { ChildInfo } from '../supervisor/types.js';

export type ChildAction = 'restart' | 'terminate' | 'start';

/**
 * What `POST /admin/{restart,terminate,start}/<path>` answers: the child as it is after the
 * action; or, for the admin server itself (or a supervisor above it), `child: null` and status
 * 202, since the answer must leave before the server closes.
 */
export interface RestartReport {
  path: string;
  /** Its pid before the action (null when it was not running). */
  previousPid: number | null;
  child: ChildInfo | null;
}

/** The root as the actions need it (a Supervisor); every method accepts `a/b/c` paths. */
export interface AdminRoot {
  info(): ChildInfo;
  childInfo(path: string): ChildInfo;
  terminateChild(path: string): Promise<void>;
  restartChild(path: string): Promise<ChildInfo>;
}

export interface ChildActionTarget {
  nodeId: string;
  /** Path of the admin server's own child, e.g. `system/admin-http`. */
  adminPath: string;
  root(): AdminRoot;
}

/** Error answers carry OTP's reason: not_found, running, restarting. */
export interface ChildActionError {
  error: string;
  reason: 'not_found' | 'running' | 'restarting';
}

export interface ChildActionAnswer {
  status: number;
  body: RestartReport | ChildActionError;
  /** Work to do once the answer has been sent (an action on the admin server itself). */
  afterwards?: () => Promise<unknown>;
}

/** `path` is normalised already (`services/parse#1`). Errors other than the two refusals are thrown (500). */
export async function childAction(target: ChildActionTarget, action: ChildAction, path: string): Promise<ChildActionAnswer> {
  const root = target.root();
  try {
    const before = root.childInfo(path);
    const report = (child: ChildInfo | null): RestartReport => ({ path, previousPid: before.pid, child });
    const restart = async () => {
      await root.terminateChild(path);
      return root.restartChild(path);
    };
    // Stopping the admin server from inside one of its own requests would wait on itself.
    const self = target.adminPath === path || target.adminPath.startsWith(`${path}/`);
    switch (action) {
      case 'start':
        // OTP restart_child: refused (409) while it runs, so it never waits on the admin server.
        return { status: 200, body: report(await root.restartChild(path)) };
      case 'terminate':
        if (self) return { status: 202, body: report(null), afterwards: () => root.terminateChild(path) };
        await root.terminateChild(path);
        return { status: 200, body: report(root.childInfo(path)) };
      case 'restart':
        // A failed restart of the admin server is reported (and logged) by its supervisor; nobody is left to answer.
        if (self) return { status: 202, body: report(null), afterwards: restart };
        return { status: 200, body: report(await restart()) };
    }
  } catch (err) {
    if (err instanceof NoSuchChild) return { status: 404, body: { error: `no child '${path}' in the tree of node ${target.nodeId}`, reason: 'not_found' } };
    if (err instanceof ChildRunning) return { status: 409, body: { error: err.message, reason: err.state } };
    throw err;
  }
}
