/**
 * A real `git push` to the deploy repository: progress as `remote:` lines, a ready release row
 * with one hash per service, hashes that change exactly for the services whose code changed,
 * node_modules reused when the lockfile is unchanged, old releases pruned, other refs accepted
 * untouched and a delete of main refused.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { deployWorld, git } from './deployHarness.js';

t.test('pushes build releases whose per-service hashes follow the code each service runs', async (t) => {
  const w = await deployWorld(t, ['--keep', '2']);

  // 1. The first push: npm ci, build, check, hashes, a ready release; nothing is scheduled yet.
  t.equal(await w.main(), null, 'the repository starts empty');
  const sha1 = await git(w.work, 'rev-parse', 'HEAD');
  const p1 = await w.push();
  t.equal(p1.code, 0, p1.output);
  const at = (lines: string[], re: RegExp) => lines.findIndex((l) => re.test(l));
  const steps = [/^hydra: release \w{12} \(main: fixture app\)$/, /^hydra: checkout: /, /^hydra: install: no earlier release to reuse: npm ci$/, /^hydra: {3}npm ci \| added 1 package/, /^hydra: build: npm run build$/, /^hydra: {3}build \| built dist\/$/, /^hydra: check: 3 service\(s\) \(alpha 1\.0\.0, beta 1\.0\.0, gamma 1\.0\.0\): manifests valid/, /^hydra: hashes: alpha \w{12} \(first release\)/, /^hydra: release \w{12} ready: /];
  const positions = steps.map((re) => at(p1.remote, re));
  t.notOk(positions.includes(-1), `every step has its remote: line\n${p1.remote.join('\n')}`);
  t.same([...positions].sort((a, b) => a - b), positions, 'in order');
  t.equal(p1.remote.at(-1), `hydra: release ${sha1.slice(0, 12)} ready: alpha, beta, gamma not scheduled`, 'the last line sums up');
  t.match(p1.remote.join('\n'), "hydra: activate: gamma not scheduled; place it with 'hydra scheduler place gamma'");
  t.equal(await w.main(), sha1, 'main moved');
  const [r1] = await w.releases();
  t.match(r1, { commit: sha1, status: 'ready', path: path.join(w.home, 'releases', sha1, 'dist'), error: null });
  t.same(Object.keys(r1!.service_hashes).sort(), ['alpha', 'beta', 'gamma']);
  for (const h of Object.values(r1!.service_hashes)) t.match(h, /^[0-9a-f]{64}$/);
  t.ok(existsSync(path.join(r1!.path, 'services', 'topology.json')), 'path is the app root of the built code');

  // 2. Only gamma's file changes: only gamma's hash; the lockfile is the same, node_modules is reused.
  const sha2 = await w.commit('gamma counts differently', { 'src/services/gamma/index.js': readFileSync(path.join(w.work, 'src/services/gamma/index.js'), 'utf8').replace("counters.seen", "counters.handled") });
  const p2 = await w.push();
  t.equal(p2.code, 0, p2.output);
  const r2 = (await w.releases()).find((r) => r.commit === sha2)!;
  t.equal(r2.service_hashes.alpha, r1!.service_hashes.alpha);
  t.equal(r2.service_hashes.beta, r1!.service_hashes.beta);
  t.not(r2.service_hashes.gamma, r1!.service_hashes.gamma);
  t.match(p2.remote.join('\n'), `hashes vs release ${sha1.slice(0, 12)}: alpha ${r2.service_hashes.alpha!.slice(0, 12)} (unchanged), beta ${r2.service_hashes.beta!.slice(0, 12)} (unchanged), gamma ${r2.service_hashes.gamma!.slice(0, 12)} (changed)`);
  t.match(p2.remote.join('\n'), `install: package-lock.json unchanged since release ${sha1.slice(0, 12)}: node_modules reused from it as hard links`);
  t.notMatch(p2.output, /npm ci \|/, 'npm ci did not run');
  const dep = (sha: string) => statSync(path.join(w.home, 'releases', sha, 'node_modules', 'tiny-dep', 'index.js'));
  t.equal(dep(sha2).ino, dep(sha1).ino, 'the same file (a hard link), not a copy');

  // 3. The helper alpha and beta import changes: their hashes, not gamma's.
  const sha3 = await w.commit('a new label', { 'src/lib/label.js': 'export function label(name) {\n  return `service ${name}`;\n}\n' });
  const p3 = await w.push();
  t.equal(p3.code, 0, p3.output);
  const r3 = (await w.releases()).find((r) => r.commit === sha3)!;
  t.not(r3.service_hashes.alpha, r2.service_hashes.alpha);
  t.not(r3.service_hashes.beta, r2.service_hashes.beta);
  t.equal(r3.service_hashes.gamma, r2.service_hashes.gamma);

  // --keep 2: the first release is pruned (directory and row: nothing refers to it).
  t.match(p3.remote.join('\n'), `prune: removed 1 old release(s): ${sha1.slice(0, 12)}`);
  t.notOk(existsSync(path.join(w.home, 'releases', sha1)));
  t.same((await w.releases()).map((r) => r.commit), [sha2, sha3]);

  // A change of the lockfile changes every hash (and runs npm ci).
  const lock = JSON.parse(readFileSync(path.join(w.work, 'package-lock.json'), 'utf8')) as { version: string; packages: Record<string, { version?: string }> };
  lock.version = lock.packages['']!.version = '1.0.1';
  const pkg = JSON.parse(readFileSync(path.join(w.work, 'package.json'), 'utf8')) as { version: string };
  pkg.version = '1.0.1';
  const sha4 = await w.commit('version 1.0.1', { 'package-lock.json': `${JSON.stringify(lock, null, 2)}\n`, 'package.json': `${JSON.stringify(pkg, null, 2)}\n` });
  const p4 = await w.push();
  t.equal(p4.code, 0, p4.output);
  t.match(p4.remote.join('\n'), `install: package-lock.json differs from release ${sha3.slice(0, 12)}: npm ci`);
  const r4 = (await w.releases()).find((r) => r.commit === sha4)!;
  for (const s of ['alpha', 'beta', 'gamma']) t.not(r4.service_hashes[s], r3.service_hashes[s], `${s} changes with the lockfile`);

  // hydra deploy releases lists them, newest first.
  const list = await w.hydra('deploy', 'releases', '--json');
  t.equal(list.code, 0, list.stderr);
  t.match(JSON.parse(list.stdout), { releases: [{ commit: sha4, status: 'ready', services: [], files: 'present' }, { commit: sha3 }] });
  t.equal(JSON.parse(list.stdout).releases.length, 2, 'keeping 2');
  const human = await w.hydra('deploy', 'releases');
  t.match(human.stdout, /^ID +COMMIT +STATUS +CREATED +SERVICES +INSTANCES +FILES +ERROR\n/);
  t.match(human.stdout, /\n2 release\(s\): 2 ready, 0 failed, 0 building\n$/);
});

t.test('other refs are accepted untouched; deleting main is refused', async (t) => {
  const w = await deployWorld(t);
  const sha = await git(w.work, 'rev-parse', 'HEAD');
  const feature = await w.push({ refspec: 'HEAD:refs/heads/feature' });
  t.equal(feature.code, 0, feature.output);
  t.same(feature.remote, ['hydra: refs/heads/feature: accepted as is (only refs/heads/main deploys)']);
  t.same(await w.releases(), [], 'no release');
  t.equal(await w.main(), null);

  t.equal((await w.push()).code, 0);
  t.equal(await w.main(), sha);
  const del = await w.push({ refspec: ':refs/heads/main' });
  t.not(del.code, 0);
  t.match(del.remote.join('\n'), 'hydra: refused: deleting main is refused: it names the code this node runs; push another commit to it instead');
  t.match(del.output, /\[remote rejected\]|pre-receive hook declined/);
  t.equal(await w.main(), sha, 'main is still there');
});
