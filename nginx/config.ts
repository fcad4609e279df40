/**
 * nginx settings of a node, read from the environment once (boot.sh writes them into
 * /etc/hydra/hydra.env). HYDRA_NGINX_CONF unset means this node does not manage nginx: the
 * daemon runs no watcher. Every bad value is a ConfigError naming the variable.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { HelperSettings } from './applyViaHelper.js';

export interface NginxSettings {
  /** HYDRA_NGINX_CONF: the file this node renders (included in nginx's http block). */
  file: string;
  /** HYDRA_NGINX_BIN (default nginx): for `nginx -t` and the version. */
  nginxBin: string;
  /** HYDRA_NGINX_RELOAD: the command that reloads the running nginx (default `<bin> -s reload`). */
  reload: string[];
  /** HYDRA_NGINX_PID (default /run/nginx.pid): the master's pid file, to know when a reload is done. */
  pidFile: string;
  /** HYDRA_TLS_CERT, HYDRA_TLS_KEY. */
  certificate: string;
  certificateKey: string;
  /** HYDRA_SERVER_NAME (default `_`: any name). */
  serverName: string;
  /** HYDRA_HTTPS_PORT (443), HYDRA_HTTP_PORT (80). */
  httpsPort: number;
  httpPort: number;
  /** HYDRA_NGINX_IPV6: on, off, or auto (default: on when the kernel has IPv6). */
  ipv6: boolean;
  /** HYDRA_ADMIN_ALLOW: who may reach /admin/ and /metrics through nginx (default 127.0.0.1 ::1). */
  adminAllow: string[];
  /** HYDRA_NGINX_INTERVAL_MS: how often the watcher looks at the tree (default 1000). */
  intervalMs: number;
  /**
   * HYDRA_NGINX_APPLY + HYDRA_NGINX_DATA (boot.sh sets both): the node writes its routes to the
   * data file and runs the root-owned helper, which renders, tests and reloads; the node then
   * neither writes `file` nor reloads nginx itself. null: the node applies directly (a node
   * whose user owns its nginx, as in the tests).
   */
  helper?: HelperSettings | null;
}

type Env = Record<string, string | undefined>;

function get(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function absolute(env: Env, name: string, example: string): string | undefined {
  const v = get(env, name);
  if (v !== undefined && !path.isAbsolute(v)) throw new ConfigError(name, `'${v}' is not an absolute path; expected e.g. ${example}`);
  return v;
}

function port(env: Env, name: string, fallback: number): number {
  const v = get(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new ConfigError(name, `'${v}' is not a port; expected an integer from 1 to 65535`);
  return Number(v);
}

function ipv6(env: Env): boolean {
  const v = get(env, 'HYDRA_NGINX_IPV6') ?? 'auto';
  if (v === 'on') return true;
  if (v === 'off') return false;
  if (v === 'auto') return existsSync('/proc/net/if_inet6');
  throw new ConfigError('HYDRA_NGINX_IPV6', `'${v}' is invalid; expected on, off or auto`);
}

function helperSettings(env: Env): HelperSettings | null {
  const apply = get(env, 'HYDRA_NGINX_APPLY');
  const dataFile = absolute(env, 'HYDRA_NGINX_DATA', '/var/lib/hydra/nginx/routes.json');
  if (apply === undefined && dataFile === undefined) return null;
  if (apply === undefined) throw new ConfigError('HYDRA_NGINX_APPLY', 'is not set but HYDRA_NGINX_DATA is; expected the helper command, e.g. /usr/bin/sudo -n /usr/local/sbin/hydra-nginx-apply (boot.sh sets both)');
  if (dataFile === undefined) throw new ConfigError('HYDRA_NGINX_DATA', 'is not set but HYDRA_NGINX_APPLY is; expected the routes file the helper reads, e.g. /var/lib/hydra/nginx/routes.json');
  return { argv: apply.split(/\s+/), dataFile };
}

/** null when HYDRA_NGINX_CONF is unset (nginx is not managed by this node). */
export function loadNginxSettings(env: Env = process.env): NginxSettings | null {
  const file = absolute(env, 'HYDRA_NGINX_CONF', '/etc/hydra/nginx/hydra.conf');
  if (file === undefined) return null;
  return nginxSettings(env, file);
}

/** The settings for rendering into `file` (the CLI may name the file itself). */
export function nginxSettings(env: Env, file: string): NginxSettings {
  const certificate = absolute(env, 'HYDRA_TLS_CERT', '/etc/hydra/tls/node.crt');
  const certificateKey = absolute(env, 'HYDRA_TLS_KEY', '/etc/hydra/tls/node.key');
  if (certificate === undefined) throw new ConfigError('HYDRA_TLS_CERT', 'is not set, and nginx needs the certificate for port 443; expected e.g. /etc/hydra/tls/node.crt (boot.sh sets it)');
  if (certificateKey === undefined) throw new ConfigError('HYDRA_TLS_KEY', 'is not set, and nginx needs the key of the certificate; expected e.g. /etc/hydra/tls/node.key (boot.sh sets it)');
  const nginxBin = get(env, 'HYDRA_NGINX_BIN') ?? 'nginx';
  const reload = (get(env, 'HYDRA_NGINX_RELOAD') ?? `${nginxBin} -s reload`).split(/\s+/);
  const serverName = get(env, 'HYDRA_SERVER_NAME') ?? '_';
  if (!/^(_|\*?[A-Za-z0-9.-]+)( (\*?[A-Za-z0-9.-]+))*$/.test(serverName)) throw new ConfigError('HYDRA_SERVER_NAME', `'${serverName}' is invalid; expected DNS names separated by spaces (node1.example.net), or _`);
  const adminAllow = (get(env, 'HYDRA_ADMIN_ALLOW') ?? '127.0.0.1 ::1').split(/[\s,]+/).filter(Boolean);
  for (const a of adminAllow) {
    if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(a)) throw new ConfigError('HYDRA_ADMIN_ALLOW', `'${a}' is not an address; expected IP addresses or CIDR ranges separated by spaces, e.g. 127.0.0.1 10.0.0.0/8`);
  }
  const interval = get(env, 'HYDRA_NGINX_INTERVAL_MS');
  if (interval !== undefined && (!/^\d+$/.test(interval) || Number(interval) < 50)) throw new ConfigError('HYDRA_NGINX_INTERVAL_MS', `'${interval}' is invalid; expected a whole number of ms of at least 50`);
  const httpsPort = port(env, 'HYDRA_HTTPS_PORT', 443);
  const httpPort = port(env, 'HYDRA_HTTP_PORT', 80);
  if (httpPort === httpsPort) throw new ConfigError('HYDRA_HTTP_PORT', `${httpPort} is also HYDRA_HTTPS_PORT; expected another port (80)`);
  return {
    file,
    nginxBin,
    reload,
    pidFile: absolute(env, 'HYDRA_NGINX_PID', '/run/nginx.pid') ?? '/run/nginx.pid',
    certificate,
    certificateKey,
    serverName,
    httpsPort,
    httpPort,
    ipv6: ipv6(env),
    adminAllow,
    intervalMs: interval === undefined ? 1_000 : Number(interval),
    helper: helperSettings(env),
  };
}
