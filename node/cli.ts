/**
 * `hydra node start | status | tree | restart <child> | stop`: the daemon in the foreground and
 * the commands that talk to it through its admin API. Strict parsing (an unknown option is a
 * usage error, exit 2); `--json` on every command; one-line errors (exit 1).
 */
import { EXIT_OK, UsageError, helpOr, parseCommandArgs as parse, type Command } from '../core/cli.js';
import { adminCall, childPathUrl, locateNode } from './adminClient.js';
import type { RestartReport } from './adminChildActions.js';
import type { NodeTreeReport } from './adminRoutes.js';
import { resolveHome } from '../core/home.js';
import { loadNodeConfig } from './config.js';
import { runNode } from './daemon.js';
import { renderStatus, renderTree } from './nodeView.js';
import { isAlive } from './pidFile.js';

function print(value: unknown, human: string, json: boolean | string | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

const start: Command = {
  path: ['node', 'start'],
  summary: 'run this node (root supervisor, admin HTTP, services) in the foreground',
  usage: 'hydra node start [--json]   (configured by HYDRA_* variables; see docs/node.md)',
  async run(args) {
    const p = parse(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const code = await runNode(loadNodeConfig(), p.values.json ? { progress: () => undefined } : {});
    // Backstop: a handle some library leaves open must not keep a stopped node alive.
    setTimeout(() => process.exit(code), 2_000).unref();
    return code;
  },
};

/** A read of the running node's tree, drawn one way or another. */
function treeView(verb: string, summary: string, render: (report: NodeTreeReport) => string): Command {
  return {
    path: ['node', verb],
    summary,
    usage: `hydra node ${verb} [--json]`,
    async run(args) {
      const p = parse(args);
      if (helpOr(p, this.usage!)) return EXIT_OK;
      const { body } = await adminCall<NodeTreeReport>(locateNode(resolveHome()), 'GET', '/admin/tree');
      print(body, render(body), p.values.json);
      return EXIT_OK;
    },
  };
}

const status = treeView('status', "show the running node's state", renderStatus);
const tree = treeView('tree', 'draw the supervision tree with pid, state, restarts, version, uptime', renderTree);

const restart: Command = {
  path: ['node', 'restart'],
  summary: 'restart one child by its path, e.g. services/parse#1 (not counted toward intensity)',
  usage: 'hydra node restart <child path> [--json]',
  async run(args) {
    const p = parse(args, {}, ['<child path>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const childPath = p.positionals[0]!;
    // A restart waits for the child to be ready again: allow for a slow start.
    const { body } = await adminCall<RestartReport>(locateNode(resolveHome()), 'POST', `/admin/restart/${childPathUrl(childPath)}`, 120_000);
    const human = body.child
      ? `restarted ${body.path}: pid ${body.previousPid ?? '-'} → ${body.child.pid ?? '-'} (${body.child.state})`
      : `restarting ${body.path} (it includes the admin server, which answers again once restarted)`;
    print(body, human, p.values.json);
    return EXIT_OK;
  },
};

const stop: Command = {
  path: ['node', 'stop'],
  summary: 'stop the node gracefully (children in reverse order) and wait for it to exit',
  usage: 'hydra node stop [--json] [--timeout <seconds>]',
  async run(args) {
    const p = parse(args, { timeout: { type: 'string' } });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const timeoutS = p.values.timeout === undefined ? 120 : Number(p.values.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout: '${String(p.values.timeout)}' is not a number of seconds above 0`);
    const node = locateNode(resolveHome());
    await adminCall(node, 'POST', '/admin/stop');
    const deadline = Date.now() + timeoutS * 1000;
    while (isAlive(node.pid)) {
      if (Date.now() > deadline) throw new Error(`node ${node.nodeId} (pid ${node.pid}) is still stopping after ${timeoutS} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    print({ stopped: true, nodeId: node.nodeId, pid: node.pid }, `node ${node.nodeId} stopped (pid ${node.pid})`, p.values.json);
    return EXIT_OK;
  },
};

export const nodeCommands: Command[] = [start, status, tree, restart, stop];
