/** The node's configuration: defaults, and every bad value a ConfigError naming its variable. */
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ConfigError } from '../../core/errors.js';
import { defaultNodeId, loadNodeConfig } from '../../node/config.js';

t.test('defaults apply when nothing is set (empty counts as unset)', async (t) => {
  const c = loadNodeConfig({ HYDRA_HOME: '/srv/hydra', HYDRA_ADMIN_PORT: '' });
  t.match(c, {
    nodeId: defaultNodeId(),
    home: '/srv/hydra',
    runDir: '/srv/hydra/run',
    topologyFile: '/srv/hydra/topology.json',
    topologyExplicit: false,
    adminHost: '127.0.0.1',
    adminPort: 7070,
    servicePortBase: 7100,
    redisUrl: 'redis://127.0.0.1:6379',
    databaseUrl: null,
    keyPrefix: 'hydra:',
    logLevel: 'info',
  });
  const home = loadNodeConfig({}).home;
  t.equal(home, process.getuid?.() === 0 ? '/var/lib/hydra' : path.join(os.homedir(), '.hydra'), 'HYDRA_HOME: /var/lib/hydra for root, else ~/.hydra');
});

t.test('set values are taken', async (t) => {
  const c = loadNodeConfig({
    HYDRA_NODE_ID: 'edge-7',
    HYDRA_HOME: '/tmp/h',
    HYDRA_TOPOLOGY: '/etc/hydra/top.json',
    HYDRA_ADMIN_HOST: '0.0.0.0',
    HYDRA_ADMIN_PORT: '0',
    HYDRA_SERVICE_PORT_BASE: '9000',
    REDIS_URL: 'redis://r:6380/2',
    DATABASE_URL: 'postgres://u@db:6432/hydra',
    HYDRA_KEY_PREFIX: 'site1:',
    HYDRA_LOG_LEVEL: 'debug',
  });
  t.match(c, { nodeId: 'edge-7', topologyFile: '/etc/hydra/top.json', topologyExplicit: true, adminHost: '0.0.0.0', adminPort: 0, servicePortBase: 9000, redisUrl: 'redis://r:6380/2', databaseUrl: 'postgres://u@db:6432/hydra', keyPrefix: 'site1:', logLevel: 'debug' });
});

t.test('the default node id is the host name made to fit [a-z0-9-]', async (t) => {
  t.equal(defaultNodeId('Edge_Box-01.plant.local'), 'edge-box-01');
  t.equal(defaultNodeId('...'), 'node');
});

const BAD: Array<[string, string, RegExp]> = [
  ['HYDRA_NODE_ID', 'Edge 7', /\[a-z0-9-\]/],
  ['HYDRA_NODE_ID', '-edge', /\[a-z0-9-\]/],
  ['HYDRA_HOME', 'relative/dir', /absolute path/],
  ['HYDRA_ADMIN_HOST', 'http://x', /IP address or host name/],
  ['HYDRA_ADMIN_PORT', '70000', /integer from 0 to 65535/],
  ['HYDRA_ADMIN_PORT', 'http', /integer from 0 to 65535/],
  ['HYDRA_SERVICE_PORT_BASE', '0', /integer from 1 to 65535/],
  ['HYDRA_SERVICE_PORT_BASE', '7100.5', /integer from 1 to 65535/],
  ['REDIS_URL', '127.0.0.1 6379', /not a URL; expected e\.g\. redis:\/\//],
  ['REDIS_URL', 'localhost:6379', /has scheme 'localhost:'; expected redis: or rediss:/],
  ['REDIS_URL', 'http://localhost:6379', /expected redis: or rediss:/],
  ['DATABASE_URL', 'mysql://db/hydra', /expected postgres: or postgresql:/],
  ['HYDRA_KEY_PREFIX', 'a b', /white space/],
  ['HYDRA_LOG_LEVEL', 'verbose', /one of debug, info, warn, error/],
];

for (const [variable, value, expected] of BAD) {
  t.test(`${variable}=${JSON.stringify(value)} is a ConfigError naming ${variable}`, async (t) => {
    const err = (() => {
      try {
        loadNodeConfig({ HYDRA_HOME: '/tmp/h', [variable]: value });
      } catch (e) {
        return e;
      }
      return null;
    })();
    t.ok(err instanceof ConfigError, 'a ConfigError');
    t.equal((err as ConfigError).variable, variable);
    t.match((err as Error).message, new RegExp(`^${variable}: '`), 'the message starts with the variable and quotes the value');
    t.match((err as Error).message, expected, 'and says what is expected');
  });
}

t.test('scheduled mode: settings, defaults, and each bad value named', async (t) => {
  t.equal(loadNodeConfig({ HYDRA_HOME: '/h' }).scheduler, null, 'standalone by default');
  const db = 'postgres://u@db:6432/hydra';
  const c = loadNodeConfig({ HYDRA_HOME: '/h', HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_NODE_LABELS: 'site=north, rack=r1', HYDRA_NODE_CAPACITY: 'cpu=2,memoryMb=1024,gpu=1', HYDRA_HEARTBEAT_MS: '500', HYDRA_NODE_TIMEOUT_MS: '3000', HYDRA_LEASE_MS: '4000', HYDRA_SCHEDULER_TICK_MS: '700', HYDRA_RECONCILE_MS: '800', HYDRA_NODE_ADDRESS: 'https://n1.example.net', HYDRA_LISTEN_DATABASE_URL: 'postgres://u@db:5432/hydra' });
  t.same(c.scheduler, { labels: { site: 'north', rack: 'r1' }, capacity: { cpu: 2, memoryMb: 1024, gpu: 1 }, address: 'https://n1.example.net', heartbeatMs: 500, nodeTimeoutMs: 3000, leaseMs: 4000, tickMs: 700, reconcileMs: 800, listenUrl: 'postgres://u@db:5432/hydra' });
  const d = loadNodeConfig({ HYDRA_HOME: '/h', HYDRA_MODE: 'scheduled', DATABASE_URL: db });
  t.match(d.scheduler, { labels: {}, capacity: { cpu: os.availableParallelism(), memoryMb: Math.floor(os.totalmem() / 2 ** 20) }, address: null, heartbeatMs: 2000, nodeTimeoutMs: 10000, leaseMs: 10000, listenUrl: null });
  const bad: [Record<string, string>, RegExp][] = [
    [{ HYDRA_MODE: 'cluster' }, /^HYDRA_MODE: 'cluster' is not a mode; expected standalone or scheduled/],
    [{ HYDRA_MODE: 'scheduled' }, /^DATABASE_URL: is not set, and HYDRA_MODE=scheduled needs the scheduler database/],
    [{ HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_NODE_LABELS: 'site' }, /^HYDRA_NODE_LABELS: 'site' in 'site' is not key=value/],
    [{ HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_NODE_CAPACITY: 'cpu=lots' }, /^HYDRA_NODE_CAPACITY: cpu=lots is invalid/],
    [{ HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_HEARTBEAT_MS: '1s' }, /^HYDRA_HEARTBEAT_MS: '1s' is invalid/],
    [{ HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_LISTEN_DATABASE_URL: 'redis://x' }, /^HYDRA_LISTEN_DATABASE_URL: 'redis:\/\/x' /],
    [{ HYDRA_MODE: 'scheduled', DATABASE_URL: db, HYDRA_HEARTBEAT_MS: '5000', HYDRA_NODE_TIMEOUT_MS: '4000' }, /^HYDRA_NODE_TIMEOUT_MS: 4000 is invalid; expected more than HYDRA_HEARTBEAT_MS/],
  ];
  for (const [env, message] of bad) t.throws(() => loadNodeConfig({ HYDRA_HOME: '/h', ...env }), { name: 'ConfigError', message }, JSON.stringify(env));
});
