/**
 * boot.sh end to end, on this machine: it CHANGES the machine (nginx on 80/443, PgBouncer on
 * 6432, a hydra user, the node daemon), so it is not part of `npm test`; `npm run test:boot`
 * runs it (as root; .ci/run does, after the suite). Safe to run where boot.sh already ran.
 *
 * First what must stop boot.sh before it changes anything (no root, another OS, a bad
 * certificate, port 443 taken); then `./boot.sh --yes` and every promise of the issue through
 * real clients: HTTPS /healthz, the port-80 redirect, a device packet POSTed over HTTPS whose
 * state is read back over HTTPS and pushed over a WebSocket on 443, the services' database
 * connections seen on PgBouncer's console; then a second run that changes nothing.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, chownSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import t from 'tap';
import { WebSocket } from 'ws';
import type { Fleet } from '../../services/messages.js';
import { loadFleet, writeFleet } from '../../services/packet/fleet.js';
import { encodeFrame } from '../../services/packet/frame.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import type { ServerMessage } from '../../services/state/protocol.js';
import { createApiToken } from '../../scheduler/store/apiTokens.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { sleep, waitFor } from '../helpers/wait.js';

const BOOT = fileURLToPath(new URL('../../boot.sh', import.meta.url));
const HOME = '/var/lib/hydra';
const ENV_FILE = '/etc/hydra/hydra.env';
const BASE = 'https://127.0.0.1';

if (process.getuid?.() !== 0) {
  t.fail('npm run test:boot provisions this machine and must run as root (sudo npm run test:boot)');
  process.exit();
}

interface Run {
  code: number | null;
  out: string;
}

function boot(args: string[], env: Record<string, string> = {}, user?: string): Promise<Run> {
  const argv = user ? ['setpriv', `--reuid=${user}`, '--regid=nogroup', '--clear-groups', 'bash', BOOT, ...args] : ['bash', BOOT, ...args];
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

const ranNoStep = (r: Run) => !/^\[ ?\d+\/\d+\]/m.test(r.out);

function tmp(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `hydra-boot-${name}-`));
}

/** Port 443 free on this machine (no nginx from an earlier boot)? */
async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

t.test('bad input stops boot.sh at once, with the reason, before anything changes', async (t) => {
  const notRoot = await boot(['--check'], {}, 'nobody');
  t.equal(notRoot.code, 1);
  t.match(notRoot.out, /^boot\.sh: preflight: must run as root .*: sudo \.\/boot\.sh$/m);

  const dir = tmp('input');
  writeFileSync(path.join(dir, 'os-release'), 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n');
  const ubuntu = await boot(['--check'], { HYDRA_BOOT_OS_RELEASE: path.join(dir, 'os-release') });
  t.equal(ubuntu.code, 1);
  t.match(ubuntu.out, /unsupported OS: Ubuntu 22\.04\.4 LTS; boot\.sh supports Debian 12 \(bookworm\) or newer/);
  writeFileSync(path.join(dir, 'old-debian'), 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n');
  t.match((await boot(['--check'], { HYDRA_BOOT_OS_RELEASE: path.join(dir, 'old-debian') })).out, /unsupported OS: Debian GNU\/Linux 11/);

  writeFileSync(path.join(dir, 'garbage.crt'), 'not a certificate\n');
  const cert = (name: string) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj', `/CN=${name}`, '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)], { stdio: 'ignore' });
    return { crt: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const [a, b] = [cert('a'), cert('b')];
  const garbage = await boot(['--yes', '--cert', path.join(dir, 'garbage.crt'), '--key', a.key]);
  t.equal(garbage.code, 1);
  t.match(garbage.out, /--cert .*garbage\.crt is not a PEM certificate; give the certificate/);
  t.ok(ranNoStep(garbage), 'no step ran');
  const mismatch = await boot(['--yes', '--cert', a.crt, '--key', b.key]);
  t.equal(mismatch.code, 1);
  t.match(mismatch.out, /--key .*b\.key is not the key of --cert .*a\.crt \(their public keys differ\); give the matching pair/);
  t.ok(ranNoStep(mismatch));
  const halfPair = await boot(['--cert', a.crt]);
  t.equal(halfPair.code, 2, 'a usage error');
  t.match(halfPair.out, /--cert needs --key/);

  if (!(await portFree(443))) {
    t.comment('port 443 is already held (nginx from an earlier boot.sh run): the port-taken case is checked on a fresh machine only');
    return;
  }
  const squatter = createServer();
  await new Promise<void>((r) => squatter.listen(443, '0.0.0.0', r));
  const taken = await boot(['--yes']);
  squatter.close();
  t.equal(taken.code, 1);
  t.match(taken.out, new RegExp(`port 443 is taken by node \\(pid ${process.pid}\\), and the node needs it for nginx; stop that program or move it to another port, then run boot.sh again`));
  t.ok(ranNoStep(taken), 'nothing was half-changed: no step ran');
});

// ---- the real run --------------------------------------------------------------------------

let ca: Buffer | undefined;

function https(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, agent: false, ...(ca ? { ca } : { rejectUnauthorized: false }) }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function envValue(name: string): string {
  const line = readFileSync(ENV_FILE, 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`${name} is not in ${ENV_FILE}`);
  return line.slice(name.length + 1).replace(/^"(.*)"$/, '$1');
}

/** The node's fleet file: the one there, or a new one (the node picks it up within a second). */
function fleet(): Fleet {
  const file = path.join(HOME, 'fleet.json');
  if (existsSync(file)) return loadFleet(file);
  const f = makeFleet({ sites: 1, unitsPerSite: 1, detonatorsPerUnit: 4 });
  writeFleet(file, f);
  const uid = Number(execFileSync('id', ['-u', 'hydra'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'hydra'], { encoding: 'utf8' }));
  chownSync(file, uid, gid);
  return f;
}

t.test('./boot.sh --yes provisions the node; everything answers on 443; a second run changes nothing', async (t) => {
  const first = await boot(['--yes']);
  t.comment(first.out);
  t.equal(first.code, 0, 'first run exits 0');
  t.match(first.out, /^boot\.sh: node \S+ is up at https:\/\//m);
  if (readFileSync('/etc/hydra/boot/tls-source', 'utf8').trim() !== 'operator') ca = readFileSync('/etc/hydra/tls/ca.crt');
  if (!existsSync('/run/systemd/system')) {
    // No systemd: boot.sh's supervisor and its node.log rotation loop (a subshell of it) both run.
    const supervisors = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (() => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('__supervise'); } catch { return false; }
    })());
    t.ok(supervisors.length >= 2, `the supervisor and its log rotation loop run (${supervisors.length} __supervise processes)`);
  }

  // /healthz over HTTPS, verified against the node CA.
  const health = await https('GET', `${BASE}/healthz`);
  t.equal(health.status, 200, 'https://127.0.0.1/healthz is 200');
  t.same(JSON.parse(health.text), { status: 'ok' }, 'the public /healthz says only ok');
  t.equal(health.headers['strict-transport-security'], 'max-age=63072000', 'HSTS');

  // Port 80 only redirects.
  const plain = await fetch('http://127.0.0.1/state/items?site=1', { redirect: 'manual' });
  t.equal(plain.status, 301, 'http://127.0.0.1/ redirects');
  t.equal(plain.headers.get('location'), 'https://127.0.0.1/state/items?site=1');

  // A device, its key and token from the node's fleet file.
  const f = fleet();
  const site = f.sites[0]!;
  const device = site.devices[0]!;
  const item = device.detonators?.[0] ?? 1;

  // Reading state needs an API token (made through the real store, as `hydra token create` does).
  const tokens = new pg.Client({ connectionString: envValue('DATABASE_URL') });
  await tokens.connect();
  const { token } = await createApiToken(tokens, { role: 'viewer', name: 'boot e2e', expiresAt: new Date(Date.now() + 3_600_000), actor: 'boot-e2e' });
  await tokens.end();
  const viewer = { authorization: `Bearer ${token}` };
  t.equal((await https('GET', `${BASE}/state/items?site=1`)).status, 401, 'state over 443 without a token: 401');

  // Subscribe over a WebSocket on 443 first: the change must be pushed.
  const ws = new WebSocket(`wss://127.0.0.1/state/ws`, { headers: viewer, ...(ca ? { ca } : { rejectUnauthorized: false }) });
  t.teardown(() => ws.terminate());
  const messages: ServerMessage[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ op: 'bind', id: 'boot-e2e', site: site.id, device: device.id, item }));
  await waitFor('the snapshot of the binding', () => messages.some((m) => m.type === 'snapshot' && m.id === 'boot-e2e'), 15_000);

  // POST real frames (AES-GCM, the device's token) until one comes back as a change: the node
  // may still be loading a fleet file written just now (ingest 401s until it has).
  const pgbouncer = new pg.Client({ connectionString: envValue('DATABASE_URL').replace(/\/hydra$/, '/pgbouncer') });
  await pgbouncer.connect();
  t.teardown(() => pgbouncer.end());
  const statsOf = async () => {
    const rows = (await pgbouncer.query('SHOW STATS')).rows as Array<{ database: string; total_xact_count: string; total_query_count: string }>;
    const row = rows.find((r) => r.database === 'hydra');
    return Number(row?.total_query_count ?? 0);
  };
  const queriesBefore = await statsOf();
  const seqBase = Math.floor((Date.now() - Date.UTC(2025, 0, 1)) / 100);
  let accepted = 0;
  let seq = 0;
  let change: Extract<ServerMessage, { type: 'change' }> | undefined;
  const hydraClients: Array<Record<string, unknown>> = [];
  const deadline = Date.now() + 60_000;
  for (let i = 0; !change && Date.now() < deadline; i++) {
    seq = seqBase + i;
    const frame = encodeFrame({ type: 'status', site: site.id, device: device.id, seq, deviceTs: Date.now(), blastId: 0, items: [{ item, status: 'connected', faultCode: 0, voltage: 24.1 + (i % 10) / 100, resistance: 2.5, delayMs: 0 }] }, site.key);
    const res = await https('POST', `${BASE}/ingest/packets`, frame, { 'content-type': 'application/octet-stream', authorization: `Bearer ${device.token}` });
    if (res.status === 202) accepted++;
    for (let w = 0; w < 20 && !change; w++) {
      change = messages.find((m): m is Extract<ServerMessage, { type: 'change' }> => m.type === 'change' && m.change.seq === seq);
      const clients = (await pgbouncer.query('SHOW CLIENTS')).rows as Array<Record<string, unknown>>;
      hydraClients.push(...clients.filter((c) => c.database === 'hydra' && c.user === 'hydra'));
      await sleep(100); // poll interval of the loop above
    }
  }
  t.ok(accepted > 0, 'ingest accepted a packet POSTed to https://127.0.0.1/ingest/packets');
  t.ok(change, 'the WebSocket over 443 received the change');
  t.match(change, { type: 'change', id: 'boot-e2e', change: { site: site.id, device: device.id, item, seq, state: { status: 'connected' } } });

  const state = await https('GET', `${BASE}/state/items?site=${site.id}&device=${device.id}&item=${item}`, undefined, viewer);
  t.equal(state.status, 200);
  t.match(JSON.parse(state.text), { count: 1, items: [{ site: site.id, device: device.id, item, seq, status: 'connected' }] }, 'its state reads back over HTTPS');

  // The services' PostgreSQL connections go through PgBouncer.
  t.ok(hydraClients.length > 0, "PgBouncer's SHOW CLIENTS lists the services' connections to database hydra");
  await waitFor('SHOW STATS to count the services’ queries', async () => (await statsOf()) > queriesBefore, 15_000);
  t.pass("PgBouncer's SHOW STATS counted their queries");
  const tree = JSON.parse((await https('GET', `${BASE}/admin/tree`)).text) as { tree: ChildInfo };
  const stateChild = tree.tree.children!.find((c) => c.id === 'services')!.children!.find((c) => c.mount === '/state')!;
  const environ = readFileSync(`/proc/${stateChild.pid}/environ`, 'utf8').split('\0');
  t.match(environ.find((e) => e.startsWith('DATABASE_URL=')), /@127\.0\.0\.1:6432\/hydra$/, "the state service's DATABASE_URL is PgBouncer's");

  // Again: nothing to do.
  const second = await boot(['--yes']);
  t.comment(second.out);
  t.equal(second.code, 0, 'second run exits 0');
  t.match(second.out, /nothing changed \(\d+ steps checked\)/, 'and reports nothing changed');
  t.notMatch(second.out, / changed: /, 'no step changed anything');
  const check = await boot(['--check']);
  if (check.code !== 0) t.comment(check.out);
  t.equal(check.code, 0, '--check finds no drift');
  t.match(check.out, /boot\.sh --check: nothing would change/);
  t.equal((await https('GET', `${BASE}/healthz`)).status, 200, 'still healthy after the second run');
});

// ---- issue 14: what the hydra user (every git pusher) can and cannot do as root ------------

const asHydra = (cmd: string) => spawnSync('setpriv', ['--reuid=hydra', '--regid=hydra', '--init-groups', 'sh', '-c', cmd], { encoding: 'utf8', cwd: '/' });
const modeOf = (file: string) => execFileSync('stat', ['-c', '%a %U:%G', file], { encoding: 'utf8' }).trim();

t.test('hydra writes data only; a root-owned helper renders, tests and reloads nginx; root trusts nothing hydra writes', async (t) => {
  t.equal(modeOf('/etc/hydra/hydra.env'), '640 root:hydra', 'settings: root writes, hydra reads');
  t.equal(modeOf('/etc/hydra/tls/node.key'), '600 root:root', 'the TLS key: root (the nginx master) only');
  t.equal(modeOf('/etc/hydra/nginx'), '755 root:root');
  t.equal(modeOf('/etc/hydra/nginx/hydra.conf'), '644 root:root');
  t.equal(modeOf('/usr/local/sbin/hydra-nginx-apply'), '755 root:root');
  t.equal(execFileSync('find', ['/usr/local/lib/hydra-nginx', '(', '!', '-user', 'root', '-o', '-perm', '/022', ')'], { encoding: 'utf8' }), '', "the helper's code: root's, nobody else may write it");
  t.notMatch(readFileSync('/usr/local/sbin/hydra-nginx-apply', 'utf8'), /\/dist\//, 'the helper runs its root-owned copy, not the checkout');
  t.equal(readFileSync('/etc/sudoers.d/hydra-nginx', 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).join('\n'), 'hydra ALL=(root) NOPASSWD: /usr/local/sbin/hydra-nginx-apply ""', 'sudo: the helper, without arguments, and nothing else');

  t.not(asHydra('echo "access_log /etc/cron.d/pwn;" >> /etc/hydra/nginx/hydra.conf').status, 0, 'hydra cannot write the nginx config');
  t.not(asHydra('echo HYDRA_NGINX_BIN=/tmp/x >> /etc/hydra/hydra.env').status, 0, 'hydra cannot write the settings');
  t.not(asHydra('cat /etc/hydra/tls/node.key').status, 0, 'hydra cannot read the TLS key');
  t.not(asHydra('sudo -n /usr/sbin/nginx -s reload').status, 0, 'hydra cannot reload nginx itself');
  t.not(asHydra('sudo -n /usr/local/sbin/hydra-nginx-apply --out /etc/cron.d/x').status, 0, 'nor give the helper arguments');
  const applied = asHydra('sudo -n /usr/local/sbin/hydra-nginx-apply');
  t.equal(applied.status, 0, `hydra may run the helper (${applied.stdout}${applied.stderr})`);
  t.match(JSON.parse(applied.stdout.trim()), { state: 'unchanged' });

  // The routes file is hydra's: a directive smuggled into it never reaches nginx.
  const data = '/var/lib/hydra/nginx/routes.json';
  const routes = readFileSync(data, 'utf8');
  const live = readFileSync('/etc/hydra/nginx/hydra.conf', 'utf8');
  const evil = JSON.parse(routes) as { services: Array<{ mount: string }> };
  evil.services.push({ mount: '/x; } access_log /etc/cron.d/pwn; location /y {', instances: [], upstreams: [] } as never);
  t.equal(asHydra(`cat > ${data}.evil <<'EOF'\n${JSON.stringify(evil)}\nEOF\nmv ${data}.evil ${data}`).status, 0);
  const refused = asHydra('sudo -n /usr/local/sbin/hydra-nginx-apply');
  t.equal(refused.status, 2, 'the helper refuses the routes');
  t.match(JSON.parse(refused.stdout.trim()), { state: 'invalid', error: /services\[\d+\]\.mount: .* is invalid/ });
  t.equal(readFileSync('/etc/hydra/nginx/hydra.conf', 'utf8'), live, 'the live config is untouched');
  t.notOk(existsSync('/etc/cron.d/pwn'));
  t.equal(asHydra(`ln -sf /etc/shadow ${data}`).status, 0);
  const linked = asHydra('sudo -n /usr/local/sbin/hydra-nginx-apply');
  t.match(JSON.parse(linked.stdout.trim()), { state: 'invalid', error: /is a symbolic link/ }, 'a link is never followed');
  t.notMatch(linked.stdout, /root:/, 'nothing of the target is shown');
  t.equal(asHydra(`rm -f ${data} && cat > ${data} <<'EOF'\n${routes}EOF`).status, 0, 'the routes put back');

  // The node CA signs no other CA and vouches for this node's names only.
  const caText = execFileSync('openssl', ['x509', '-in', '/etc/hydra/tls/ca.crt', '-noout', '-text'], { encoding: 'utf8' });
  t.match(caText, /CA:TRUE, pathlen:0/);
  t.match(caText, /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:/);
  t.match(caText, /IP:127\.0\.0\.1\/255\.255\.255\.255/);

  // The CLI wrapper never runs the node's code as root.
  t.match(readFileSync('/usr/local/bin/hydra', 'utf8'), /exec setpriv --reuid=hydra --regid=hydra --init-groups --reset-env -- "\$0" "\$@"/);
  const tree = spawnSync('/usr/local/bin/hydra', ['node', 'tree'], { encoding: 'utf8' });
  t.equal(tree.status, 0, `sudo hydra node tree still works, as hydra (${tree.stderr})`);

  // LOW: no passwords on command lines, Redis bounded, nginx says no version, SSH no tunnels.
  const bootText = readFileSync(BOOT, 'utf8');
  t.notMatch(bootText, /--pass\b/, 'redis-cli gets its password from REDISCLI_AUTH');
  t.notMatch(bootText, /ACL SETUSER \S+ reset "\$\{want/, 'ACL SETUSER with a password goes on stdin');
  const adminFile = '/etc/hydra/boot/redis-admin.password';
  const redisAuth = existsSync(adminFile) ? ['--user', 'hydra-admin'] : [];
  const redisEnv = existsSync(adminFile) ? { ...process.env, REDISCLI_AUTH: readFileSync(adminFile, 'utf8').trim() } : process.env;
  const maxmemory = execFileSync('redis-cli', ['--no-auth-warning', ...redisAuth, 'CONFIG', 'GET', 'maxmemory'], { encoding: 'utf8', env: redisEnv }).split('\n')[1];
  t.ok(Number(maxmemory) > 0, `Redis has a maxmemory (${maxmemory})`);
  const server = await https('GET', `${BASE}/nowhere`);
  t.equal(server.headers.server, 'nginx', 'the Server header names no version');
  if (existsSync('/etc/ssh/sshd_config.d') && spawnSync('sshd', ['-t']).status !== null) {
    t.match(readFileSync('/etc/ssh/sshd_config.d/hydra.conf', 'utf8'), /Match User hydra\n\s+AllowTcpForwarding no/);
  }
  const check = await boot(['--check']);
  t.equal(check.code, 0, `--check still finds no drift after all that (${check.out})`);
});
