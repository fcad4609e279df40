/**
 * The watcher inside a real node daemon (HYDRA_NGINX_CONF set): the services' own manifests say
 * where they are mounted (the `ready` message carries it into the tree), and the node renders
 * its nginx config from that: one upstream per mount with every instance's port. A restart of
 * an instance (same port) rewrites nothing.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { NodeTreeReport } from '../../node/adminRoutes.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';
import { fixtureService, getJson, startNode } from './nodeProcess.js';
import { makeCertificate, nginxAvailable, tempDir } from '../nginx/nginxHarness.js';

t.test('a node renders its nginx config from the mounts and ports its services report', async (t) => {
  if (!nginxAvailable()) return t.fail('nginx is not installed: apt-get install nginx (.ci/run does)');
  const dir = tempDir(t, 'node-nginx');
  const cert = makeCertificate(dir);
  const file = path.join(dir, 'hydra.conf');
  const node = await startNode(t, { services: [fixtureService('ping', 'ping', { instances: 2 }), fixtureService('echo', 'echo')] }, {
    HYDRA_NGINX_CONF: file,
    HYDRA_TLS_CERT: cert.certificate,
    HYDRA_TLS_KEY: cert.certificateKey,
    // No nginx master in this test: the reload is a no-op, and there is no pid file to wait on.
    HYDRA_NGINX_RELOAD: 'true',
    HYDRA_NGINX_PID: path.join(dir, 'no-nginx.pid'),
    HYDRA_NGINX_INTERVAL_MS: '100',
    HYDRA_SERVER_NAME: 'edge.example.net',
  });
  const { body } = await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`);
  const services = body.tree.children!.find((c) => c.id === 'services')!.children as ChildInfo[];
  t.same(
    services.map((c) => [c.id, c.mount]),
    [
      ['ping#1', '/ping'],
      ['ping#2', '/ping'],
      ['echo#1', '/echo'],
    ],
    'each instance reports its mount in the tree',
  );
  const ports = Object.fromEntries(services.map((c) => [c.id, c.port]));
  const text = await waitFor('the node to render its nginx config', () => {
    try {
      const s = readFileSync(file, 'utf8');
      return s.includes('hydra_echo') ? s : null;
    } catch {
      return null;
    }
  });
  t.match(text, new RegExp(`upstream hydra_ping \\{\\n    server 127\\.0\\.0\\.1:${ports['ping#1']} [^\\n]*\\n    server 127\\.0\\.0\\.1:${ports['ping#2']} `));
  t.match(text, new RegExp(`upstream hydra_echo \\{\\n    server 127\\.0\\.0\\.1:${ports['echo#1']} `));
  t.match(text, /server_name edge\.example\.net;/);
  t.match(text, new RegExp(`upstream hydra_admin \\{\\n    server 127\\.0\\.0\\.1:${new URL(node.file.adminUrl).port};`));
  const system = body.tree.children!.find((c) => c.id === 'system')!.children!.map((c) => c.id);
  t.same(system, ['admin-http', 'nginx'], 'the watcher is a child of system, after the admin');

  const mtime = statSync(file).mtimeMs;
  const restarted = await node.cli('node', 'restart', 'services/ping#1');
  t.equal(restarted.code, 0, restarted.stderr);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(statSync(file).mtimeMs, mtime, 'a restart on the same port rewrites nothing (and reloads nothing)');
  t.equal(readFileSync(file, 'utf8'), text);
});
