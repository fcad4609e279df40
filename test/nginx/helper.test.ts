/**
 * The root-owned nginx helper (hydra-nginx-apply): the node hands it data only (mounts and
 * ports); it renders with the renderer's validation and root-owned settings, tests with a real
 * nginx, puts the config in place and reloads. Data that tries to smuggle a directive, a path or
 * another node's id is refused and the live config stays as it was.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'node:https';
import t from 'tap';
import { applyFromRoutes } from '../../nginx/applyFromRoutes.js';
import { applyViaHelper, runHelper } from '../../nginx/applyViaHelper.js';
import { nginxSettings } from '../../nginx/config.js';
import { parseRoutes, readRoutesFile, routesText, type NginxRoutes } from '../../nginx/routesData.js';
import { parseSettings } from '../../nginx/settingsFile.js';
import { freePort } from '../helpers/freePort.js';
import { makeCertificate, NGINX, nginxAvailable, startNginx, tempDir } from './nginxHarness.js';
import { createServer } from 'node:http';

const MAIN = new URL('../../dist/nginx/nginxApplyMain.js', import.meta.url).pathname;

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('the routes file holds data only: unknown fields, wrong types and links are refused', async (t) => {
  const ok: NginxRoutes = { nodeId: 'edge-1', admin: { host: '127.0.0.1', port: 7070 }, services: [{ mount: '/state', instances: ['state#1'], upstreams: [{ host: '127.0.0.1', port: 7103 }] }] };
  t.same(parseRoutes(routesText(ok)), ok);
  t.throws(() => parseRoutes(JSON.stringify({ ...ok, certificate: '/etc/shadow' })), { message: /unknown field 'certificate'/ });
  t.throws(() => parseRoutes(JSON.stringify({ ...ok, services: [{ ...ok.services[0], accessLog: '/etc/cron.d/x' }] })), { message: /routes\.services\[0\]: unknown field 'accessLog'/ });
  t.throws(() => parseRoutes(JSON.stringify({ ...ok, admin: { host: '127.0.0.1', port: '7070' } })), { message: /routes\.admin: expected host \(a string\) and port \(a number\)/ });
  const e = t.throws(() => parseRoutes('root:x:0:0:secret')) as unknown as Error;
  t.notMatch(e.message, /secret/, 'the text of a non-JSON file is not echoed');
  const dir = tempDir(t, 'routes');
  writeFileSync(path.join(dir, 'secret'), '{"nodeId":"x"}');
  symlinkSync(path.join(dir, 'secret'), path.join(dir, 'routes.json'));
  t.throws(() => readRoutesFile(path.join(dir, 'routes.json')), { message: /is a symbolic link/ });
  t.equal(readRoutesFile(path.join(dir, 'missing.json')), null);
  mkdirSync(path.join(dir, 'adir'));
  t.throws(() => readRoutesFile(path.join(dir, 'adir')), { message: /not a regular file/ });
});

t.test('settings are parsed, never sourced; only HYDRA_* keys; the helper needs its command and data file together', async (t) => {
  t.same(parseSettings('# c\nHYDRA_A=1\nHYDRA_B="x y"\nPATH=/evil\nHYDRA_C=$(id)\nbad line\n'), { HYDRA_A: '1', HYDRA_B: 'x y', HYDRA_C: '$(id)' });
  const base = { HYDRA_TLS_CERT: '/c', HYDRA_TLS_KEY: '/k' };
  t.equal(nginxSettings(base, '/f').helper, null);
  t.same(nginxSettings({ ...base, HYDRA_NGINX_APPLY: '/usr/bin/sudo -n /usr/local/sbin/hydra-nginx-apply', HYDRA_NGINX_DATA: '/var/lib/hydra/nginx/routes.json' }, '/f').helper, {
    argv: ['/usr/bin/sudo', '-n', '/usr/local/sbin/hydra-nginx-apply'],
    dataFile: '/var/lib/hydra/nginx/routes.json',
  });
  t.throws(() => nginxSettings({ ...base, HYDRA_NGINX_DATA: '/d.json' }, '/f'), { message: /^HYDRA_NGINX_APPLY: is not set/ });
  t.throws(() => nginxSettings({ ...base, HYDRA_NGINX_APPLY: 'x', HYDRA_NGINX_DATA: 'rel.json' }, '/f'), { message: /^HYDRA_NGINX_DATA: 'rel.json' is not an absolute path/ });
});

t.test('the helper renders from data + root-owned settings, tests, reloads; smuggled directives never reach nginx', async (t) => {
  if (!nginxAvailable()) return t.fail('nginx is not installed: apt-get install nginx');
  const dir = tempDir(t, 'helper');
  const cert = makeCertificate(dir);
  const [httpsPort, httpPort, adminPort, servicePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const admin = createServer((_req, res) => res.end('{"status":"ok"}'));
  const service = createServer((req, res) => res.end(`service saw ${req.url}`));
  await new Promise<void>((r) => admin.listen(adminPort, '127.0.0.1', r));
  await new Promise<void>((r) => service.listen(servicePort, '127.0.0.1', r));
  t.teardown(() => {
    admin.close();
    service.close();
  });
  const nginx = await startNginx(t, '');
  const settingsFile = path.join(dir, 'hydra.env');
  writeFileSync(
    settingsFile,
    [
      'HYDRA_NODE_ID=edge-1',
      `HYDRA_ADMIN_PORT=${adminPort}`,
      `HYDRA_TLS_CERT=${cert.certificate}`,
      `HYDRA_TLS_KEY=${cert.certificateKey}`,
      'HYDRA_SERVER_NAME=_',
      `HYDRA_HTTPS_PORT=${httpsPort}`,
      `HYDRA_HTTP_PORT=${httpPort}`,
      'HYDRA_NGINX_IPV6=off',
      // Ignored by the helper: its own fixed arguments name nginx.
      'HYDRA_NGINX_BIN=/bin/false',
      '',
    ].join('\n'),
  );
  const dataFile = path.join(dir, 'data', 'routes.json');
  const options = { settingsFile, dataFile, out: nginx.include, nginxBin: NGINX, pidFile: nginx.pidFile, reload: true };

  t.match(await applyFromRoutes(options), { state: 'applied', reloadError: null, services: 0 }, 'no data yet: admin and /healthz only');
  t.equal((await get(httpsPort, '/healthz')).status, 200);

  const helper = { argv: [process.execPath, MAIN, '--settings', settingsFile, '--data', dataFile, '--out', nginx.include, '--nginx', NGINX, '--pid', nginx.pidFile], dataFile };
  const routes: NginxRoutes = { nodeId: 'edge-1', admin: { host: '127.0.0.1', port: adminPort }, services: [{ mount: '/state', instances: ['state#1'], upstreams: [{ host: '127.0.0.1', port: servicePort }] }] };
  t.match(await applyViaHelper(helper, routes), { state: 'applied', reloadError: null }, 'the node writes data, the helper process applies it');
  t.same(await get(httpsPort, '/state/x'), { status: 200, body: 'service saw /state/x' }, 'nginx serves the new mount');
  t.match(readFileSync(nginx.include, 'utf8'), new RegExp(`ssl_certificate_key ${cert.certificateKey.replace(/[/.]/g, '\\$&')};`), 'the key path comes from the settings');
  t.same(await applyViaHelper(helper, routes), { state: 'unchanged', services: 1 });

  const live = readFileSync(nginx.include, 'utf8');
  const attacks: [string, NginxRoutes | string, RegExp][] = [
    ['a directive in a mount', { ...routes, services: [{ ...routes.services[0]!, mount: '/x; } access_log /etc/cron.d/pwn; location /y {' }] }, /services\[0\]\.mount: .* is invalid/],
    ['a directive in an upstream host', { ...routes, services: [{ ...routes.services[0]!, upstreams: [{ host: '127.0.0.1:1; access_log /tmp/x', port: 1 }] }] }, /upstreams\[0\]\.host: .* is invalid/],
    ['a port that is not a number', JSON.stringify({ ...routes, services: [{ ...routes.services[0], upstreams: [{ host: '127.0.0.1', port: '80; x' }] }] }), /expected host \(a string\) and port \(a number\)/],
    ['another node', { ...routes, nodeId: 'edge-2' }, /routes\.nodeId "edge-2" is not this node \(edge-1/],
    ['a certificate path', JSON.stringify({ ...routes, certificateKey: '/etc/shadow' }), /unknown field 'certificateKey'/],
  ];
  for (const [what, data, error] of attacks) {
    const result = typeof data === 'string' ? (writeFileSync(dataFile, data), await runHelper(helper.argv)) : await applyViaHelper(helper, data);
    t.match(result, { state: 'invalid', error }, `refused: ${what}`);
    t.equal(readFileSync(nginx.include, 'utf8'), live, `live config untouched after ${what}`);
  }
  t.match(await applyViaHelper(helper, routes), { state: 'unchanged' }, 'good data again: nothing to do');
});

t.test('a reload that failed is retried on the next call although the config is unchanged', async (t) => {
  if (!nginxAvailable()) return t.fail('nginx is not installed: apt-get install nginx');
  const dir = tempDir(t, 'helper-pending');
  const cert = makeCertificate(dir);
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const settingsFile = path.join(dir, 'hydra.env');
  writeFileSync(settingsFile, `HYDRA_NODE_ID=edge-1\nHYDRA_TLS_CERT=${cert.certificate}\nHYDRA_TLS_KEY=${cert.certificateKey}\nHYDRA_HTTPS_PORT=${httpsPort}\nHYDRA_HTTP_PORT=${httpPort}\nHYDRA_NGINX_IPV6=off\n`);
  const out = path.join(dir, 'hydra.conf');
  const noMaster = path.join(dir, 'none.pid');
  const options = { settingsFile, dataFile: path.join(dir, 'routes.json'), out, nginxBin: NGINX, pidFile: noMaster, reload: true };
  t.match(await applyFromRoutes(options), { state: 'applied', reloadError: /nginx is not running/ });
  t.match(await applyFromRoutes(options), { state: 'applied', reloadError: /nginx is not running/ }, 'still pending: tried again');
  const nginx = await startNginx(t, '');
  t.match(await applyFromRoutes({ ...options, pidFile: nginx.pidFile }), { state: 'applied', reloadError: null }, 'nginx up: the pending reload happens');
  t.match(await applyFromRoutes({ ...options, pidFile: nginx.pidFile }), { state: 'unchanged' }, 'and then nothing is pending');
  t.match(await applyFromRoutes({ ...options, reload: false, out: path.join(dir, 'other.conf') }), { state: 'applied', reloadError: null }, '--no-reload (boot.sh before nginx runs)');
});
