/**
 * The node's side of the root-owned nginx helper: write the routes (data only) where the helper
 * reads them, run the helper (`sudo -n /usr/local/sbin/hydra-nginx-apply`, no arguments), and
 * read its one-line JSON answer back as an ApplyResult. The node never writes nginx's config
 * nor reloads nginx itself (finding: whoever writes an nginx config the root master loads can
 * make it open any file as root).
 */
import { execFile } from 'node:child_process';
import type { ApplyResult } from './applyNginx.js';
import { routesText, writeRoutes, type NginxRoutes } from './routesData.js';

export interface HelperSettings {
  /** HYDRA_NGINX_APPLY: argv of the helper, e.g. `/usr/bin/sudo -n /usr/local/sbin/hydra-nginx-apply`. */
  argv: string[];
  /** HYDRA_NGINX_DATA: where the node writes its routes for the helper. */
  dataFile: string;
}

/** What the helper said: an ApplyResult, or `invalid` when it refused the data or its settings. */
export type HelperApplyResult = ApplyResult | { state: 'invalid'; error: string };

export function runHelper(argv: string[], timeoutMs = 60_000): Promise<HelperApplyResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(line) as HelperApplyResult;
        if (parsed && typeof parsed.state === 'string') return resolve(parsed);
      } catch {
        // not the helper's answer: report what it printed
      }
      resolve({ state: 'invalid', error: `'${argv.join(' ')}' failed${err ? ` (${err.message.split('\n')[0]})` : ''}: ${`${stdout}${stderr}`.trim() || 'no output'}` });
    });
  });
}

/** Writes the routes and asks the helper to render, test, put in place and reload. */
export async function applyViaHelper(helper: HelperSettings, routes: NginxRoutes): Promise<HelperApplyResult> {
  writeRoutes(helper.dataFile, routesText(routes));
  return runHelper(helper.argv);
}
