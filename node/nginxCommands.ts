/**
 * `hydra nginx render [--check] [--json] [--out FILE] [--allow-empty]`: renders this node's nginx
 * config from the running node's tree (what the node's watcher does every second) and applies it
 * (nginx -t, atomic rename, reload) when it changed. boot.sh and operators use it; `--check`
 * only says whether the file is current (exit 0) or would change (exit 1). With HYDRA_NGINX_APPLY
 * (boot.sh's nodes) the routes go to the root-owned helper, which renders, tests and reloads;
 * `--check` still renders here and compares with the live file (which hydra may read).
 */
import { EXIT_FAILURE, EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../core/cli.js';
import { adminCall, locateNode } from './adminClient.js';
import type { NodeTreeReport } from './adminRoutes.js';
import { resolveHome } from '../core/home.js';
import { loadNodeConfig } from './config.js';
import { applyNginx, type ApplyResult } from '../nginx/applyNginx.js';
import { applyViaHelper } from '../nginx/applyViaHelper.js';
import { nginxInput } from '../nginx/nginxInput.js';
import { nginxSettings } from '../nginx/config.js';
import { renderNginx, type NginxService, type Upstream } from '../nginx/renderNginx.js';
import { adminUpstream, servicesSubtree, treeServices } from './treeServices.js';

const USAGE = 'hydra nginx render [--check] [--json] [--out FILE (default $HYDRA_NGINX_CONF)] [--allow-empty]';

/** The running node's services and admin address; with allowEmpty and no node, none and the configured admin. */
async function fromNode(allowEmpty: boolean): Promise<{ nodeId: string; admin: Upstream; services: NginxService[]; running: boolean }> {
  const config = loadNodeConfig();
  let node;
  try {
    node = locateNode(resolveHome());
  } catch (err) {
    if (!allowEmpty) throw err;
    return { nodeId: config.nodeId, admin: { host: config.adminHost, port: config.adminPort }, services: [], running: false };
  }
  const { body } = await adminCall<NodeTreeReport>(node, 'GET', '/admin/tree');
  return { nodeId: body.nodeId, admin: adminUpstream(body.adminUrl), services: treeServices(servicesSubtree(body.tree), { host: '127.0.0.1' }), running: true };
}

const describe = (services: NginxService[]) =>
  services.length === 0 ? 'no services' : services.map((s) => `${s.mount} → ${s.upstreams.length > 0 ? s.upstreams.map((u) => u.port).join(',') : 'none running'}`).join(', ');

const render: Command = {
  path: ['nginx', 'render'],
  summary: "render this node's nginx config from its running services; apply it (nginx -t, reload) when it changed",
  usage: USAGE,
  async run(args) {
    const p = parseCommandArgs(args, { check: { type: 'boolean' }, out: { type: 'string' }, 'allow-empty': { type: 'boolean' } });
    if (helpOr(p, USAGE)) return EXIT_OK;
    const v = p.values as { check?: boolean; json?: boolean; out?: string; 'allow-empty'?: boolean };
    const file = v.out ?? process.env.HYDRA_NGINX_CONF?.trim();
    if (!file) throw new UsageError('no file to render: set HYDRA_NGINX_CONF (boot.sh writes it into /etc/hydra/hydra.env) or pass --out FILE');
    const settings = nginxSettings(process.env, file);
    const node = await fromNode(v['allow-empty'] ?? false);
    const text = renderNginx(await nginxInput(settings, node));
    const viaHelper = settings.helper !== null && v.out === undefined && !v.check;
    const answer = viaHelper ? await applyViaHelper(settings.helper!, node) : await applyNginx(text, { file, nginxBin: settings.nginxBin, reload: settings.reload, pidFile: settings.pidFile, checkOnly: v.check ?? false });
    if (answer.state === 'invalid') throw new Error(`the nginx helper refused the routes (${settings.helper!.argv.join(' ')}): ${answer.error}`);
    const result: ApplyResult = answer;
    const report = { file, nodeRunning: node.running, services: node.services, ...result };
    const human: Record<typeof result.state, string> = {
      unchanged: `nginx config ${file} is current (${describe(node.services)})`,
      differs: `nginx config ${file} would change (${describe(node.services)})`,
      rejected: `nginx rejected the rendered config; ${file} was left as it was:\n${'error' in result ? result.error : ''}`,
      applied: `nginx config ${file} written and nginx reloaded (${describe(node.services)})`,
    };
    if (result.state === 'applied' && result.reloadError) human.applied = `nginx config ${file} written, but the reload failed: ${result.reloadError}; start nginx, or fix HYDRA_NGINX_RELOAD`;
    const failed = result.state === 'rejected' || (result.state === 'applied' && result.reloadError !== null);
    if (v.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else (failed ? process.stderr : process.stdout).write(`${failed ? 'hydra nginx render: ' : ''}${human[result.state]}\n`);
    return failed || result.state === 'differs' ? EXIT_FAILURE : EXIT_OK;
  },
};

export const nginxCommands: Command[] = [render];
