/**
 * Bad input refuses the push with a message to the pusher, and leaves everything as it was:
 * the branch does not move, the release is recorded failed with the reason, nothing is rolled
 * out (the deployments table and the specs are untouched).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { stepDeployments } from '../../scheduler/rollout.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { inTransaction } from '../../core/pgTransaction.js';
import { deployWorld, git, type DeployWorld } from './deployHarness.js';
import { beta } from './fixtureApp.js';

async function activity(w: DeployWorld): Promise<{ deployments: number; alphaRelease: string | null }> {
  const d = await w.pool.query<{ n: string }>('SELECT count(*) AS n FROM deployments');
  const s = await w.pool.query<{ release_id: string | null }>("SELECT release_id FROM service_specs WHERE name = 'alpha'");
  return { deployments: Number(d.rows[0]!.n), alphaRelease: s.rows[0]?.release_id ?? null };
}

/** A world whose first push is deployed (alpha scheduled, its rollout done as the leader would). */
async function deployedWorld(t: Test): Promise<{ w: DeployWorld; sha1: string }> {
  const w = await deployWorld(t, ['--no-wait']);
  await putServiceSpec(w.pool, { name: 'alpha' }, 'test');
  const sha1 = await git(w.work, 'rev-parse', 'HEAD');
  const p = await w.push();
  t.equal(p.code, 0, p.output);
  t.match(p.remote.join('\n'), "not waiting for the rollouts (--no-wait); follow them with 'hydra scheduler deployments'");
  t.equal(p.remote.at(-1), `hydra: release ${sha1.slice(0, 12)} ready: alpha changed → deployment 1 recorded; beta, gamma not scheduled`);
  await inTransaction(w.pool, (c) => stepDeployments(c, 'test-leader'));
  return { w, sha1 };
}

t.test('a push whose build fails is refused with the reason; the release is failed, main does not move, nothing is activated', async (t) => {
  const { w, sha1 } = await deployedWorld(t);
  const before = await activity(w);
  t.match(before, { deployments: 1, alphaRelease: '1' });
  const bad = await w.commit('beta: typo', { 'src/services/beta/index.js': 'export default defineService({ name: "beta", \n' });
  const p = await w.push();
  t.not(p.code, 0, 'git push fails');
  const text = p.remote.join('\n');
  t.match(text, /hydra: refused: build failed: npm run build exited 1: src\/services\/beta\/index\.js: SyntaxError: [^\n]+; fix the build and push again/);
  t.match(text, `hydra: release ${bad.slice(0, 12)} failed at build: nothing was activated, the running release is untouched and main was not moved`);
  t.match(p.output, /pre-receive hook declined/);
  t.equal(await w.main(), sha1, 'main did not move');
  const row = (await w.releases()).find((r) => r.commit === bad)!;
  t.match(row, { status: 'failed', error: /^build: npm run build exited 1: src\/services\/beta\/index\.js: SyntaxError/ });
  t.same(row.service_hashes, {});
  t.same(await activity(w), before, 'no deployment, the spec still runs the first release');
});

t.test('a push lacking a service manifest, or consuming a type@v nothing can produce, is refused naming the service and type', async (t) => {
  const { w, sha1 } = await deployedWorld(t);
  const before = await activity(w);
  const catalog = JSON.parse(readFileSync(path.join(w.work, 'src/services/topology.json'), 'utf8')) as { services: object[] };
  catalog.services.push({ id: 'delta', module: './delta/index.js' });
  const noManifest = await w.commit('delta listed, gamma without manifest', {
    'src/services/topology.json': JSON.stringify(catalog),
    'src/services/gamma/index.js': 'export const gamma = 1;\n',
  });
  const p1 = await w.push();
  t.not(p1.code, 0);
  const t1 = p1.remote.join('\n');
  t.match(t1, "hydra: refused: service 'gamma' has no manifest: services/gamma/index.js exports neither a default nor 'service' made by defineService({ name, version, … })");
  t.match(t1, "hydra: refused: service 'delta' has no manifest: services/delta/index.js does not exist in the build (services/topology.json names it); add the module or remove the entry");
  t.equal(p1.remote.filter((l) => l.includes("service 'delta' has no manifest")).length, 1, 'one line per finding');
  t.match(t1, `release ${noManifest.slice(0, 12)} failed at validate: nothing was activated`);
  t.match((await w.releases()).find((r) => r.commit === noManifest), { status: 'failed', error: /^validate: service 'gamma' has no manifest.*service 'delta' has no manifest/ });
  t.equal(await w.main(), sha1);

  await git(w.work, 'reset', '--quiet', '--hard', sha1);
  const unproducible = await w.commit('beta wants item.raw@2, gamma other.thing@1', {
    'src/services/beta/index.js': beta('item.raw@2'),
    'src/services/gamma/index.js': readFileSync(path.join(w.work, 'src/services/gamma/index.js'), 'utf8').replace("'items.done': ['item.done@1']", "'items.done': ['item.done@1', 'other.thing@1']"),
  });
  const p2 = await w.push();
  t.not(p2.code, 0);
  const t2 = p2.remote.join('\n');
  t.match(t2, "hydra: refused: service 'beta' consumes item.raw@2 from items.raw, but its upcasters convert none of what is produced there to @2 (alpha produces item.raw@1); declare upcasters: [{ type: 'item.raw', from: 1, to: 2, convert }] in beta's manifest, or consume a produced version");
  t.match(t2, "hydra: refused: service 'gamma' consumes other.thing@1 from items.done, but no service of this release produces other.thing on items.done");
  t.match((await w.releases()).find((r) => r.commit === unproducible), { status: 'failed', error: /^validate: service 'beta' consumes item\.raw@2/ });
  t.equal(await w.main(), sha1);
  t.same(await activity(w), before, 'nothing activated by either push');

  // With an upcaster @1 → @2 in beta's manifest (the runtime registers it in beta's process), @2 can be delivered.
  await git(w.work, 'reset', '--quiet', '--hard', sha1);
  const upcast = await w.commit('beta wants item.raw@2 and declares the upcaster', {
    'src/services/beta/index.js': beta('item.raw@2', "[{ type: 'item.raw', from: 1, to: 2, convert: (body) => ({ ...body, v2: true }) }]"),
  });
  const p3 = await w.push();
  t.equal(p3.code, 0, p3.output);
  t.equal(await w.main(), upcast);
  t.match((await w.releases()).find((r) => r.commit === upcast), { status: 'ready' });
});
