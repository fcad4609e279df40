/** `hydra node …` without a node: usage errors (exit 2), "no node running" (exit 1), config errors. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hydra, tempHome } from './nodeProcess.js';

t.test('every node command is listed in --help', async (t) => {
  const r = await hydra({}, '--help');
  for (const verb of ['start', 'status', 'tree', 'restart', 'stop']) t.match(r.stdout, new RegExp(`hydra node ${verb} `));
});

t.test('an unknown option or a missing argument is a usage error (exit 2) with the usage', async (t) => {
  const home = tempHome();
  const bad = await hydra({ HYDRA_HOME: home }, 'node', 'status', '--verbose');
  t.equal(bad.code, 2);
  t.equal(bad.stderr, "hydra node status: unknown option '--verbose'\nusage: hydra node status [--json]\n");
  const missing = await hydra({ HYDRA_HOME: home }, 'node', 'restart');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^hydra node restart: missing <child path>\n/);
  const extra = await hydra({ HYDRA_HOME: home }, 'node', 'tree', 'now');
  t.equal(extra.code, 2);
  t.match(extra.stderr, /unexpected argument 'now'/);
  const timeout = await hydra({ HYDRA_HOME: home }, 'node', 'stop', '--timeout', 'soon');
  t.equal(timeout.code, 2);
  const start = await hydra({ HYDRA_HOME: home }, 'node', 'start', '--port', '1');
  t.equal(start.code, 2);
});

t.test('with no node running, status/tree/restart/stop say so and how to start one (exit 1)', async (t) => {
  const home = tempHome();
  const file = path.join(home, 'run', 'node.json');
  for (const args of [['status'], ['tree', '--json'], ['restart', 'services/x#1'], ['stop']]) {
    const r = await hydra({ HYDRA_HOME: home }, 'node', ...args);
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.stderr, `hydra node ${args[0]}: no node running (no ${file}); start one with 'hydra node start'\n`);
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ pid: 2 ** 22 + 12345, adminUrl: 'http://127.0.0.1:1', nodeId: 'gone', startedAt: new Date().toISOString() }));
  const stale = await hydra({ HYDRA_HOME: home }, 'node', 'status');
  t.equal(stale.code, 1);
  t.match(stale.stderr, /no node running \(.*node\.json names pid \d+, which is gone\)/);
});

t.test('node start: a bad variable fails at once naming it; so does a bad topology', async (t) => {
  const home = tempHome();
  const port = await hydra({ HYDRA_HOME: home, HYDRA_ADMIN_PORT: 'seventy' }, 'node', 'start');
  t.equal(port.code, 1);
  t.equal(port.stderr, "hydra node start: HYDRA_ADMIN_PORT: 'seventy' is not a port; expected an integer from 0 to 65535\n");
  writeFileSync(path.join(home, 'topology.json'), JSON.stringify({ strategy: 'one_for_none', services: [] }));
  const topo = await hydra({ HYDRA_HOME: home, HYDRA_ADMIN_PORT: '0' }, 'node', 'start');
  t.equal(topo.code, 1);
  t.match(topo.stderr, /^hydra node start: topology\.strategy: "one_for_none" is invalid/);
});
