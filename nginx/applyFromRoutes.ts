/**
 * The root-owned nginx helper's work (`hydra-nginx-apply`, the one command sudo lets the hydra
 * user run): the routes the node wrote (data only) plus root-owned settings in, the live nginx
 * config out, tested (`nginx -t`) before it replaces the old one, then a reload. Nothing that
 * decides a path, a binary or a directive comes from the data: the certificate, key, server
 * name, ports and admin allow-list come from the root-owned settings file, the nginx binary,
 * pid file and output file from the helper's fixed arguments. Every value is validated again
 * (nginx/config.ts for the settings, the renderer for the routes).
 *
 * A reload that failed leaves a marker beside the live file, so the node's next call retries
 * the reload even though the config is unchanged.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyNginx, reloadNginx, type ApplyResult } from './applyNginx.js';
import { nginxSettings } from './config.js';
import { nginxInput } from './nginxInput.js';
import { renderNginx } from './renderNginx.js';
import { parseRoutes, readRoutesFile, RoutesError, type NginxRoutes } from './routesData.js';
import { readSettingsFile } from './settingsFile.js';

export interface HelperOptions {
  /** The root-owned settings (/etc/hydra/hydra.env): HYDRA_NODE_ID, HYDRA_TLS_*, HYDRA_SERVER_NAME, ports. */
  settingsFile: string;
  /** The routes the node wrote (/var/lib/hydra/nginx/routes.json); missing: no services yet. */
  dataFile: string;
  /** The live config nginx includes (in a root-owned folder). */
  out: string;
  nginxBin: string;
  pidFile: string;
  /** false: put the config in place but do not reload (boot.sh, before nginx runs). */
  reload: boolean;
}

/** The nginx master named by the pid file, only when that process is nginx (root signals it). */
function nginxMaster(pidFile: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return null;
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nginx' ? pid : null;
  } catch {
    return null;
  }
}

export type HelperResult = ApplyResult & { services: number };

export async function applyFromRoutes(o: HelperOptions): Promise<HelperResult> {
  const env = readSettingsFile(o.settingsFile);
  // HYDRA_NGINX_BIN, _RELOAD and _PID of the file are not used: the helper's own arguments say.
  // The reload is a SIGHUP to the master of the fixed pid file (what `nginx -s reload` sends).
  const master = nginxMaster(o.pidFile);
  const settings = { ...nginxSettings(env, o.out), nginxBin: o.nginxBin, reload: ['kill', '-HUP', String(master)], pidFile: o.pidFile };
  const notRunning = `nginx is not running (no nginx master in ${o.pidFile}); it reads ${o.out} when it starts`;
  const nodeId = env.HYDRA_NODE_ID ?? '';
  const text = readRoutesFile(o.dataFile);
  let routes: NginxRoutes;
  if (text === null) {
    const port = Number(env.HYDRA_ADMIN_PORT ?? '7070');
    routes = { nodeId, admin: { host: env.HYDRA_ADMIN_HOST ?? '127.0.0.1', port }, services: [] };
  } else {
    routes = parseRoutes(text);
    if (routes.nodeId !== nodeId) throw new RoutesError(`routes.nodeId ${JSON.stringify(routes.nodeId.slice(0, 64))} is not this node (${nodeId}, HYDRA_NODE_ID in ${o.settingsFile})`);
  }
  const rendered = renderNginx(await nginxInput(settings, routes));
  const pending = path.join(path.dirname(o.out), `.${path.basename(o.out)}.reload-pending`);
  const reload = o.reload && master !== null;
  let result: ApplyResult = await applyNginx(rendered, { file: o.out, nginxBin: o.nginxBin, reload: settings.reload, pidFile: o.pidFile, noReload: !reload });
  if (result.state === 'applied' && o.reload && master === null) result = { state: 'applied', reloadError: notRunning };
  if (result.state === 'applied' && o.reload) {
    if (result.reloadError) writeFileSync(pending, `${result.reloadError}\n`, { mode: 0o600 });
    else rmSync(pending, { force: true });
  }
  if (result.state === 'unchanged' && o.reload && existsSync(pending)) {
    const reloadError = master === null ? notRunning : await reloadNginx(settings.reload, o.pidFile);
    if (!reloadError) rmSync(pending, { force: true });
    return { state: 'applied', reloadError, services: routes.services.length };
  }
  return { ...result, services: routes.services.length };
}
