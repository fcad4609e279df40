/**
 * Test helpers for the nginx renderer: a throwaway certificate (openssl), a node tree as
 * /admin/tree shows it, and a real nginx master in a temp prefix on free high ports, stopped
 * (SIGQUIT, then SIGKILL) at teardown. Nothing of the system's nginx is used or touched.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import type { ChildInfo } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';

export const NGINX = process.env.HYDRA_NGINX_BIN ?? 'nginx';

export function nginxAvailable(): boolean {
  return spawnSync(NGINX, ['-v']).status === 0;
}

export function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `hydra-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for 127.0.0.1 / localhost in `dir`. */
export function makeCertificate(dir: string): { certificate: string; certificateKey: string } {
  const certificate = path.join(dir, 'node.crt');
  const certificateKey = path.join(dir, 'node.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', certificateKey, '-out', certificate,
  ], { stdio: 'ignore' });
  return { certificate, certificateKey };
}

/** A worker of the tree. */
export function worker(id: string, port: number | null, mount?: string, state: ChildInfo['state'] = 'running'): ChildInfo {
  return { id, kind: 'worker', pid: 1, port, state, restarts: 0, version: '1.0.0', ...(mount ? { mount } : {}), restart: 'permanent', startedAt: 0, uptimeMs: 0, lastExit: null, status: null };
}

export function supervisorNode(id: string, children: ChildInfo[], state: ChildInfo['state'] = 'running'): ChildInfo {
  return { id, kind: 'supervisor', pid: 1, port: null, state, restarts: 0, version: null, restart: 'permanent', startedAt: 0, uptimeMs: 0, lastExit: null, status: null, strategy: 'one_for_one', children };
}

/** The node's root with `system` and these service workers. */
export function nodeTree(services: ChildInfo[], state: ChildInfo['state'] = 'running'): ChildInfo {
  return supervisorNode('node', [supervisorNode('system', [worker('admin-http', null)]), supervisorNode('services', services, state)]);
}

export interface TestNginx {
  prefix: string;
  /** The config file the renderer manages (included in the http block). */
  include: string;
  /** argv that reloads this nginx. */
  reload: string[];
  pidFile: string;
  masterPid(): number;
  errorLog(): string;
}

/**
 * Starts nginx (it daemonizes) with `include` holding `initial`, in a temp prefix; as root its
 * workers run as nobody. Waits for the pid file.
 */
export async function startNginx(t: Test, initial: string, workerConnections = 256): Promise<TestNginx> {
  const prefix = tempDir(t, 'nginx');
  const include = path.join(prefix, 'hydra.conf');
  const conf = path.join(prefix, 'nginx.conf');
  const pidFile = path.join(prefix, 'nginx.pid');
  writeFileSync(include, initial);
  const temp = (name: string) => `  ${name}_temp_path ${path.join(prefix, name)};`;
  writeFileSync(
    conf,
    [
      `pid ${pidFile};`,
      `error_log ${path.join(prefix, 'error.log')} info;`,
      'worker_processes 1;',
      `events { worker_connections ${workerConnections}; }`,
      'http {',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp),
      '  access_log off;',
      `  include ${include};`,
      '}',
      '',
    ].join('\n'),
  );
  const base = [NGINX, '-e', path.join(prefix, 'error.log'), '-p', prefix, '-c', conf];
  execFileSync(base[0]!, base.slice(1), { stdio: 'pipe' });
  const masterPid = () => Number(readFileSync(pidFile, 'utf8').trim());
  await waitFor('nginx to write its pid file', () => {
    try {
      return masterPid() > 0;
    } catch {
      return false;
    }
  });
  t.teardown(async () => {
    let pid: number;
    try {
      pid = masterPid();
    } catch {
      return;
    }
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    if (!alive()) return;
    process.kill(pid, 'SIGQUIT');
    await waitFor('nginx to quit', () => !alive(), 5_000).catch(() => process.kill(pid, 'SIGKILL'));
  });
  return { prefix, include, reload: [...base, '-s', 'reload'], pidFile, masterPid, errorLog: () => readFileSync(path.join(prefix, 'error.log'), 'utf8') };
}
