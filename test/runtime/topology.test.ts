/**
 * The topology file: parsed without processes (module existence injected), each error a
 * SpecError naming the field path and the bad value; and its shape as the `services` spec.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { SpecError } from '../../supervisor/errors.js';
import { ConfigError } from '../../core/errors.js';
import { servicesSpec } from '../../node/servicesTree.js';
import { instanceCount, parseTopology, readTopology } from '../../runtime/topology.js';

const DIR = '/etc/hydra';
const MODULES = new Set(['/etc/hydra/services/ingest.js', '/etc/hydra/services/parse.js', '/opt/state.js']);
const parse = (raw: unknown) => parseTopology(raw, { dir: DIR, exists: (f) => MODULES.has(f) });

function specError(t: Test, raw: unknown, field: string, value: unknown, expected: RegExp): void {
  let err: unknown = null;
  try {
    parse(raw);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof SpecError, `a SpecError (${String(err)})`);
  t.equal((err as SpecError).field, field, `names ${field}`);
  t.same((err as SpecError).value, value, 'carries the bad value');
  t.match((err as Error).message, expected);
}

const ok = {
  strategy: 'one_for_all',
  intensity: 4,
  periodMs: 10_000,
  services: [
    { id: 'ingest', module: 'services/ingest.js', instances: 2, version: '1.2.0', env: { MAX: '10' } },
    {
      id: 'pipeline',
      supervisor: { strategy: 'rest_for_one', intensity: 2, periodMs: 5_000, services: [{ id: 'parse', module: './services/parse.js', shutdown: 'brutal_kill' }, { id: 'state', module: '/opt/state.js', restart: 'transient', shutdown: 3000, startTimeoutMs: 2000, heartbeatTimeoutMs: 4000, nodeArgs: ['--max-old-space-size=128'] }] },
    },
  ],
};

t.test('a valid topology: flags, modules resolved against the file folder, nested supervisors', async (t) => {
  const top = parse(ok);
  t.match(top.flags, { strategy: 'one_for_all', intensity: 4, periodMs: 10_000 });
  t.match(top.entries[0], { kind: 'service', id: 'ingest', module: '/etc/hydra/services/ingest.js', instances: 2, version: '1.2.0', env: { MAX: '10' } });
  t.match(top.entries[1], { kind: 'supervisor', id: 'pipeline', flags: { strategy: 'rest_for_one', intensity: 2, periodMs: 5_000 } });
  const group = top.entries[1];
  const nested = group?.kind === 'supervisor' ? group.entries : [];
  t.match(nested[0], { id: 'parse', module: '/etc/hydra/services/parse.js', instances: 1, shutdown: 'brutal_kill' });
  t.match(nested[1], { id: 'state', module: '/opt/state.js', restart: 'transient', shutdown: 3000, startTimeoutMs: 2000, heartbeatTimeoutMs: 4000, nodeArgs: ['--max-old-space-size=128'] });
  t.equal(instanceCount(top.entries), 4);
});

t.test('omitted flags get the services defaults (one_for_one, 10 restarts a minute)', async (t) => {
  t.match(parse({ services: [] }).flags, { strategy: 'one_for_one', intensity: 10, periodMs: 60_000 });
});

t.test('an unknown strategy names its field', async (t) => {
  specError(t, { strategy: 'one_for_none', services: [] }, 'topology.strategy', 'one_for_none', /one_for_one, one_for_all, rest_for_one/);
  const nested = { services: [{ id: 'a', module: '/opt/state.js' }, { id: 'b', module: '/opt/state.js' }, { id: 'grp', supervisor: { strategy: 'all_for_one', services: [] } }] };
  specError(t, nested, 'services[2].supervisor.strategy', 'all_for_one', /one_for_one/);
});

t.test('a duplicate id names the field and where the id was first used (also across nested supervisors)', async (t) => {
  specError(t, { services: [{ id: 'parse', module: '/opt/state.js' }, { id: 'parse', module: '/opt/state.js' }] }, 'services[1].id', 'parse', /already used at services\[0\]\.id/);
  specError(t, { services: [{ id: 'parse', module: '/opt/state.js' }, { id: 'g', supervisor: { services: [{ id: 'parse', module: '/opt/state.js' }] } }] }, 'services[1].supervisor.services[0].id', 'parse', /already used/);
});

t.test('a missing module names the field and the path looked at', async (t) => {
  specError(t, { services: [{ id: 'x', module: 'services/nope.js' }] }, 'services[0].module', 'services/nope.js', /\/etc\/hydra\/services\/nope\.js does not/);
  specError(t, { services: [{ id: 'x' }] }, 'services[0].module', undefined, /service module's path/);
});

t.test('a bad intensity names its field', async (t) => {
  specError(t, { intensity: -1, services: [] }, 'topology.intensity', -1, /integer >= 0/);
  specError(t, { services: [{ id: 'g', supervisor: { intensity: 'lots', services: [] } }] }, 'services[0].supervisor.intensity', 'lots', /integer/);
});

t.test('an unknown field names its path and lists the known ones', async (t) => {
  specError(t, { services: [], restarts: 3 }, 'restarts', 3, /no such field in a supervisor/);
  specError(t, { services: [{ id: 'x', module: '/opt/state.js', instance: 2 }] }, 'services[0].instance', 2, /fields: id, module, instances/);
  specError(t, { services: [{ id: 'g', module: '/opt/state.js', supervisor: { services: [] } }] }, 'services[0].module', '/opt/state.js', /supervisor entry \(fields: id, supervisor\)/);
});

t.test('other fields are checked one by one', async (t) => {
  const svc = (more: object) => ({ services: [{ id: 'x', module: '/opt/state.js', ...more }] });
  specError(t, 'nope', 'topology', 'nope', /JSON object/);
  specError(t, {}, 'services', undefined, /an array/);
  specError(t, { services: [{ id: 'a/b', module: '/opt/state.js' }] }, 'services[0].id', 'a/b', /no '#' or '\/'/);
  specError(t, svc({ instances: 0 }), 'services[0].instances', 0, /at least 1/);
  specError(t, svc({ version: 'v1' }), 'services[0].version', 'v1', /semver/);
  specError(t, svc({ restart: 'always' }), 'services[0].restart', 'always', /permanent/);
  specError(t, svc({ shutdown: 'infinity' }), 'services[0].shutdown', 'infinity', /brutal_kill/);
  specError(t, svc({ startTimeoutMs: 1.5 }), 'services[0].startTimeoutMs', 1.5, /whole number/);
  specError(t, svc({ env: { PORT: 80 } }), 'services[0].env.PORT', 80, /a string/);
  specError(t, svc({ env: { HYDRA_PORT: '80' } }), 'services[0].env.HYDRA_PORT', '80', /set by the supervisor/);
  specError(t, svc({ nodeArgs: 'fast' }), 'services[0].nodeArgs', 'fast', /array of node options/);
});

t.test('readTopology: a missing default file is the reference pipeline, a missing explicit one or bad JSON a ConfigError', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-topology-'));
  const pipeline = readTopology(path.join(dir, 'none.json'), false).entries;
  t.same(pipeline.map((e) => e.id), ['ingest', 'parse', 'state', 'report'], 'the four services of the reference pipeline');
  t.throws(() => readTopology(path.join(dir, 'none.json'), true), ConfigError);
  writeFileSync(path.join(dir, 'bad.json'), '{ "services": [ }');
  t.throws(() => readTopology(path.join(dir, 'bad.json'), true), { name: 'ConfigError', message: /^HYDRA_TOPOLOGY: .*bad\.json is not valid JSON/ });
});

t.test('as the services spec: instances <id>#<i> with distinct ports from the base, nested supervisors kept', async (t) => {
  const spec = servicesSpec(parse(ok), { portBase: 7100, env: { REDIS_URL: 'redis://x' } });
  t.equal(spec.id, 'services');
  t.equal(spec.strategy, 'one_for_all');
  t.same(spec.children.map((c) => [c.id, c.kind, c.version]), [['ingest#1', 'worker', '1.2.0'], ['ingest#2', 'worker', '1.2.0'], ['pipeline', 'supervisor', undefined]]);
  t.throws(() => servicesSpec(parse(ok), { portBase: 65534, env: {} }), { name: 'ConfigError', message: /^HYDRA_SERVICE_PORT_BASE/ });
});
