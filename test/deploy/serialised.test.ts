/**
 * Two pushes in quick succession are serialised by the hook's lock on $HYDRA_HOME/deploy.lock:
 * the second says it waits, and starts only once the first has finished (its release is ready
 * before the second is even checked out). A push that waited while the one before moved main
 * is refused before anything is built: git would refuse its ref update anyway, after the rollout.
 */
import path from 'node:path';
import t from 'tap';
import { commitIn, deployWorld, git } from './deployHarness.js';

const WAITS = 'hydra: another push is being deployed on this node; this one waits for it to finish (at most 1800 s)';
const RESUMES = 'hydra: the push before has finished; deploying this one';

t.test('two pushes at once (two deploy repositories of one node) are serialised: the second waits, then builds after the first is ready', async (t) => {
  const w = await deployWorld(t);
  const repo2 = path.join(w.home, 'second.git');
  const init2 = await w.hydra('deploy', 'init', '--repo', repo2);
  t.equal(init2.code, 0, init2.stderr);
  const other = await w.clone();
  const sha1 = await w.commit('slow build', { 'build-delay-ms': '1500' });
  const sha2 = await commitIn(other, 'another label', { 'src/lib/label.js': 'export const label = (n) => `other ${n}`;\n' });

  let locked!: () => void;
  const firstHoldsLock = new Promise<void>((resolve) => (locked = resolve));
  const first = w.push({ onLine: (l) => /hydra: checkout: /.test(l) && locked() });
  await firstHoldsLock;
  let firstStatusAtSecondCheckout: Promise<string | undefined> = Promise.resolve(undefined);
  const second = w.push({
    repo: repo2,
    cwd: other,
    onLine: (l) => {
      if (/hydra: checkout: /.test(l)) firstStatusAtSecondCheckout = w.pool.query<{ status: string }>('SELECT status FROM releases WHERE commit = $1', [sha1]).then((r) => r.rows[0]?.status);
    },
  });
  const [p1, p2] = await Promise.all([first, second]);
  t.equal(p1.code, 0, p1.output);
  t.equal(p2.code, 0, p2.output);
  t.notOk(p1.remote.includes(WAITS), 'the first did not wait');
  t.ok(p2.remote.indexOf(WAITS) >= 0 && p2.remote.indexOf(WAITS) < p2.remote.indexOf(RESUMES), `the second waited and says so\n${p2.remote.join('\n')}`);
  t.ok(p2.remote.indexOf(RESUMES) < p2.remote.findIndex((l) => l.startsWith('hydra: release ')), 'and only then started');
  t.equal(await firstStatusAtSecondCheckout, 'ready', "the first release was finished before the second's checkout");
  const rows = await w.releases();
  t.same(rows.map((r) => [r.commit, r.status]), [[sha1, 'ready'], [sha2, 'ready']], 'one release after the other');
  t.equal(await w.main(), sha1);
  t.equal(await w.main(repo2), sha2);
});

t.test('a push that waited while the one before moved main is refused before building, naming both commits', async (t) => {
  const w = await deployWorld(t);
  const sha0 = await git(w.work, 'rev-parse', 'HEAD');
  t.equal((await w.push()).code, 0);
  const other = await w.clone();
  const sha1 = await w.commit('slow build', { 'build-delay-ms': '1000' });
  const sha2 = await commitIn(other, 'based on the old main', { 'src/lib/label.js': 'export const label = (n) => `other ${n}`;\n' });

  let locked!: () => void;
  const firstHoldsLock = new Promise<void>((resolve) => (locked = resolve));
  const first = w.push({ onLine: (l) => /hydra: checkout: /.test(l) && locked() });
  await firstHoldsLock;
  const [p1, p2] = await Promise.all([first, w.push({ cwd: other })]);
  t.equal(p1.code, 0, p1.output);
  t.not(p2.code, 0, 'the second push fails');
  t.match(p2.remote.join('\n'), `${WAITS}\n${RESUMES}\nhydra: refused: main moved to ${sha1.slice(0, 12)} while this push waited for the one before (this push expected ${sha0.slice(0, 12)}); fetch, merge or rebase, and push again`);
  t.same((await w.releases()).map((r) => r.commit), [sha0, sha1], `nothing built for ${sha2.slice(0, 12)}`);
  t.equal(await w.main(), sha1);
});
