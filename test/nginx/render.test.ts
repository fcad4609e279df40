/**
 * The nginx renderer: placements (the node's tree) in, config out; real `nginx -t` accepts the
 * output; a render nginx refuses is never put in place.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { applyNginx, http2Style, testNginx, unprivilegedListen } from '../../nginx/applyNginx.js';
import { nginxSettings } from '../../nginx/config.js';
import { RenderError, renderNginx, type NginxInput } from '../../nginx/renderNginx.js';
import { servicesSubtree, treeServices, type LastSeen } from '../../node/treeServices.js';
import { makeCertificate, NGINX, nginxAvailable, nodeTree, supervisorNode, tempDir, worker } from './nginxHarness.js';

function input(more: Partial<NginxInput> = {}): NginxInput {
  return {
    nodeId: 'edge-1',
    serverName: 'edge-1.example.net',
    httpsPort: 443,
    httpPort: 80,
    ipv6: false,
    http2: 'listen',
    certificate: '/etc/hydra/tls/node.crt',
    certificateKey: '/etc/hydra/tls/node.key',
    admin: { host: '127.0.0.1', port: 7070 },
    adminAllow: ['127.0.0.1', '::1'],
    services: [],
    ...more,
  };
}

const tree = nodeTree([
  worker('ingest#1', 7100, '/ingest'),
  worker('ingest#2', 7101, '/ingest'),
  worker('parse#1', 7102), // no public routes: no mount, not proxied
  supervisorNode('pipeline', [worker('state#1', 7103, '/state')]),
  worker('report#1', 7104, '/reports'),
]);

t.test('placements in, nginx config out: an upstream per mount, TLS, HSTS, redirect, WebSocket, healthz', async (t) => {
  const services = treeServices(servicesSubtree(tree), { host: '127.0.0.1' });
  t.same(
    services.map((s) => [s.mount, s.instances, s.upstreams.map((u) => u.port)]),
    [
      ['/ingest', ['ingest#1', 'ingest#2'], [7100, 7101]],
      ['/state', ['state#1'], [7103]],
      ['/reports', ['report#1'], [7104]],
    ],
    'every worker with a mount, nested supervisors included, grouped by mount',
  );
  const text = renderNginx(input({ services }));
  t.match(text, /upstream hydra_ingest \{\n {4}server 127\.0\.0\.1:7100 max_fails=3 fail_timeout=10s;\n {4}server 127\.0\.0\.1:7101 max_fails=3 fail_timeout=10s;\n/);
  t.match(text, /upstream hydra_reports \{\n {4}server 127\.0\.0\.1:7104 /);
  t.match(text, /location \/state\/ \{\n\s+proxy_pass http:\/\/hydra_state;/);
  t.match(text, /location = \/reports \{/);
  t.notMatch(text, /parse/, 'a service without public routes is not exposed');
  t.match(text, /listen 443 ssl http2;/);
  t.match(text, /listen 80;\n/);
  t.match(text, /return 301 https:\/\/\$host\$request_uri;/, 'port 80 redirects to https');
  t.match(text, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  t.match(text, /add_header Strict-Transport-Security "max-age=63072000" always;/);
  t.match(text, /proxy_set_header Upgrade \$http_upgrade;/);
  t.match(text, /proxy_set_header Connection \$hydra_connection_upgrade;/);
  t.match(text, /proxy_read_timeout 3600s;/);
  t.match(text, /proxy_buffering off;/);
  t.match(text, /client_max_body_size 1m;/);
  t.match(text, /location = \/healthz \{\n\s+limit_conn hydra_device 128;\n\s+proxy_pass http:\/\/hydra_admin\/healthz;/, '/healthz counts in the device zone, not the viewers\'');
  t.match(text, /proxy_set_header x-hydra-role "";\n\s+proxy_set_header x-hydra-node-secret "";/, 'client x-hydra-* headers are cleared');
  t.match(text, /http2_max_concurrent_streams 32;\n\s+limit_conn hydra_client 64;\n\s+limit_conn hydra_viewers 1536;/, 'per-connection, per-client and viewer limits (3/8 of 4096 worker connections)');
  t.match(text, /location \/ingest\/ \{\n\s+limit_conn hydra_device 128;\n\s+proxy_pass/, 'ingest has its own zone');
  t.match(text, /location \/state\/ \{\n\s+proxy_pass/, 'viewer mounts keep the server limits');
  t.throws(() => renderNginx(input({ services: [{ mount: '/_hydra', instances: ['x#1'], upstreams: [{ host: '127.0.0.1', port: 7000 }] }] })), { name: 'RenderError', message: /services\[0\]\.mount: "\/_hydra" is invalid; expected a path not starting with '\/_'/ }, 'a mount under /_ is refused');
  t.match(text, /location \/admin\/ \{\n\s+allow 127\.0\.0\.1;\n\s+allow ::1;\n\s+deny all;/);
  t.equal(text.match(/^ {4}server_tokens off;$/gm)?.length, 2, 'no nginx version on either port');
  t.notMatch(text, /\{\{/, 'no placeholder left');
});

t.test('the same placements in another order render the same text', async (t) => {
  const a = renderNginx(input({ services: treeServices(servicesSubtree(tree), { host: '127.0.0.1' }) }));
  const shuffled = nodeTree([worker('report#1', 7104, '/reports'), supervisorNode('pipeline', [worker('state#1', 7103, '/state')]), worker('ingest#2', 7101, '/ingest'), worker('ingest#1', 7100, '/ingest')]);
  t.equal(renderNginx(input({ services: treeServices(servicesSubtree(shuffled), { host: '127.0.0.1' }) })), a);
});

t.test('a restarting instance keeps its last port; a gone or retiring one leaves the upstream', async (t) => {
  const lastSeen: LastSeen = new Map();
  treeServices(servicesSubtree(nodeTree([worker('state#1', 7103, '/state')])), { host: '127.0.0.1', lastSeen });
  const restarting = treeServices(servicesSubtree(nodeTree([worker('state#1', null, undefined, 'restarting')])), { host: '127.0.0.1', lastSeen });
  t.same(restarting.map((s) => s.upstreams.map((u) => u.port)), [[7103]], 'no reload just because an instance restarts');
  const gone = treeServices(servicesSubtree(nodeTree([])), { host: '127.0.0.1', lastSeen });
  t.same(gone, []);
  t.equal(lastSeen.size, 0, 'forgotten once it left the tree');
  const swap = nodeTree([worker('state@aaa#1', 7103, '/state'), worker('state@bbb#1', 7110, '/state')]);
  const switched = treeServices(servicesSubtree(swap), { host: '127.0.0.1', exclude: new Set(['services/state@aaa#1']) });
  t.same(switched.map((s) => s.upstreams.map((u) => u.port)), [[7110]], 'hot swap: the retiring instance is left out');
});

t.test('a mount with no running instance answers 503 instead of disappearing', async (t) => {
  const text = renderNginx(input({ services: [{ mount: '/state', instances: [], upstreams: [] }] }));
  t.notMatch(text, /upstream hydra_state/);
  t.match(text, /location \/state\/ \{\n\s+default_type application\/json;\n\s+return 503/);
});

t.test('nginx >= 1.25.1 gets http2 on; IPv6 listens when asked; another https port is kept in the redirect', async (t) => {
  const text = renderNginx(input({ http2: 'directive', ipv6: true, httpsPort: 8443, httpPort: 8080 }));
  t.match(text, /listen 8443 ssl;\n {4}listen \[::\]:8443 ssl;\n {4}http2 on;/);
  t.match(text, /listen \[::\]:8080;/);
  t.match(text, /return 301 https:\/\/\$host:8443\$request_uri;/);
});

t.test('bad input is refused with the field and the value', async (t) => {
  t.throws(() => renderNginx(input({ serverName: 'a;b' })), new RenderError('serverName', 'a;b', "DNS names separated by spaces, or '_'"));
  t.throws(() => renderNginx(input({ services: [{ mount: '/x;', instances: [], upstreams: [] }] })), { message: /services\[0\]\.mount: "\/x;" is invalid/ });
  t.throws(() => renderNginx(input({ services: [{ mount: '/healthz', instances: [], upstreams: [] }] })), { message: /a path other than \/healthz/ });
  t.throws(() => renderNginx(input({ services: [{ mount: '/a', instances: ['a#1'], upstreams: [{ host: '127.0.0.1', port: 0 }] }] })), { message: /services\[0\]\.upstreams\[0\]\.port: 0 is invalid/ });
  t.throws(() => renderNginx(input({ certificate: 'relative.crt' })), { message: /certificate: "relative\.crt" is invalid; expected an absolute file path/ });
  t.throws(() => nginxSettings({ HYDRA_TLS_KEY: '/k' }, '/etc/hydra/nginx/hydra.conf'), { message: /^HYDRA_TLS_CERT: is not set/ });
  t.throws(() => nginxSettings({ HYDRA_TLS_CERT: '/c', HYDRA_TLS_KEY: '/k', HYDRA_HTTPS_PORT: '99999' }, '/f'), { message: /^HYDRA_HTTPS_PORT: '99999' is not a port/ });
});

t.test('nginx -t accepts the render', async (t) => {
  if (!nginxAvailable()) return t.fail('nginx is not installed: apt-get install nginx (.ci/run does)');
  const dir = tempDir(t, 'render');
  const cert = makeCertificate(dir);
  const services = treeServices(servicesSubtree(tree), { host: '127.0.0.1' });
  const file = path.join(dir, 'hydra.conf');
  const http2 = await http2Style(NGINX);
  for (const more of [{}, { ipv6: false, services: [] }, { services: [{ mount: '/state', instances: [], upstreams: [] }] }]) {
    writeFileSync(file, renderNginx(input({ ...cert, http2, services, ...more })));
    t.equal(await testNginx(NGINX, file), null, `accepted: ${JSON.stringify(Object.keys(more))}`);
  }
});

t.test('a render nginx rejects is never put in place; an unchanged one touches nothing', async (t) => {
  if (!nginxAvailable()) return t.fail('nginx is not installed: apt-get install nginx (.ci/run does)');
  const dir = tempDir(t, 'apply');
  const cert = makeCertificate(dir);
  const file = path.join(dir, 'hydra.conf');
  const reloads: string[] = [];
  const marker = path.join(dir, 'reloaded');
  // A reload command that leaves a trace: `sh -c 'echo >> marker'`.
  const reload = ['sh', '-c', `echo reload >> ${marker}`];
  const good = renderNginx(input({ ...cert, http2: await http2Style(NGINX), services: [{ mount: '/state', instances: ['state#1'], upstreams: [{ host: '127.0.0.1', port: 7103 }] }] }));
  t.match(await applyNginx(good, { file, nginxBin: NGINX, reload }), { state: 'applied', reloadError: null });
  t.equal(readFileSync(file, 'utf8'), good);
  const mtime = statSync(file).mtimeMs;
  t.same(await applyNginx(good, { file, nginxBin: NGINX, reload }), { state: 'unchanged' });
  t.equal(statSync(file).mtimeMs, mtime, 'not rewritten');
  const missingCert = renderNginx(input({ certificate: path.join(dir, 'gone.crt'), certificateKey: cert.certificateKey, http2: await http2Style(NGINX) }));
  const rejected = await applyNginx(missingCert, { file, nginxBin: NGINX, reload });
  t.equal(rejected.state, 'rejected');
  t.match(rejected, { error: /gone\.crt/ }, "nginx's reason is reported");
  t.equal(readFileSync(file, 'utf8'), good, 'the old config stays');
  reloads.push(...readFileSync(marker, 'utf8').trim().split('\n'));
  t.equal(reloads.length, 1, 'reloaded once: for the one change that was put in place');
  t.same(await applyNginx(missingCert, { file, nginxBin: NGINX, reload, checkOnly: true }), { state: 'differs' });
  t.same(await applyNginx(good, { file, nginxBin: NGINX, reload, checkOnly: true }), { state: 'unchanged' });
});

t.test('run unprivileged, nginx -t reads a copy with the privileged ports moved up (it binds them)', async (t) => {
  t.equal(unprivilegedListen('    listen 80;\n    listen [::]:443 ssl http2;\n    listen 127.0.0.1:8443 ssl;\n        proxy_pass http://x:80;\n'), '    listen 60080;\n    listen [::]:60443 ssl http2;\n    listen 127.0.0.1:8443 ssl;\n        proxy_pass http://x:80;\n');
});
