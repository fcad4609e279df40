/** `hydra deploy init`: the bare repository and its pre-receive hook (rendered, written, idempotent). */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { renderHook, shellQuote } from '../../deploy/hookScript.js';
import { hydra } from '../scheduler/schedulerCli.js';

function home(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-deploy-init-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the hook: absolute paths, quoted settings, the pusher’s node/npm settings dropped, flock, receive with its options', async (t) => {
  const text = renderHook({
    node: '/usr/bin/node',
    hydra: '/opt/hydra/bin/hydra',
    env: { DATABASE_URL: "postgres://u:it's@db/hydra", HYDRA_HOME: '/var/lib/hydra', PATH: '/usr/bin:/bin' },
    envFile: '/etc/hydra/hydra.env',
    lockFile: '/var/lib/hydra/deploy.lock',
    receiveArgs: ['--keep', '3', '--no-wait'],
  });
  t.match(text, /^#!\/bin\/sh\n/);
  t.match(text, "export DATABASE_URL='postgres://u:it'\\''s@db/hydra'\n");
  t.match(text, "export HYDRA_HOME='/var/lib/hydra'\n");
  t.match(text, "unset NODE_OPTIONS\n");
  t.match(text, "if [ -r '/etc/hydra/hydra.env' ]; then\n  set -a; . '/etc/hydra/hydra.env'; set +a\n");
  t.match(text, "exec 9>>'/var/lib/hydra/deploy.lock'\nif ! flock -n 9; then\n");
  t.match(text, /\nexec '\/usr\/bin\/node' '\/opt\/hydra\/bin\/hydra' 'deploy' 'receive' '--keep' '3' '--no-wait'\n$/);
  t.ok(text.indexOf('set -a') > text.indexOf('export HYDRA_HOME'), 'the env file is read after the values of init, so it wins');
  t.equal(shellQuote("a'b $c"), "'a'\\''b $c'");
  // The script is valid sh.
  const file = path.join(home(t), 'hook');
  writeFileSync(file, text);
  execFileSync('sh', ['-n', file]);
});

t.test('init creates the bare repository and an executable pre-receive hook, and is idempotent', async (t) => {
  const dir = home(t);
  const env = { HYDRA_HOME: dir, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/hydra', REDIS_URL: 'redis://127.0.0.1:6379', HYDRA_NODE_ID: 'edge-1' };
  const first = await hydra(env, 'deploy', 'init');
  t.equal(first.code, 0, first.stderr);
  const repo = path.join(dir, 'deploy.git');
  t.match(first.stdout, `created bare repository ${repo}\n`);
  t.match(first.stdout, `hook ${repo}/hooks/pre-receive: written (pushes to main deploy; with DATABASE_URL, HYDRA_HOME, HYDRA_NODE_ID, REDIS_URL, PATH)\n`);
  t.equal(execFileSync('git', ['rev-parse', '--is-bare-repository'], { cwd: repo, encoding: 'utf8' }).trim(), 'true');
  t.equal(execFileSync('git', ['symbolic-ref', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim(), 'refs/heads/main');
  t.ok(existsSync(path.join(dir, 'releases')), 'releases/ is created');
  const hook = path.join(repo, 'hooks', 'pre-receive');
  t.equal(statSync(hook).mode & 0o777, 0o700, 'executable by its owner only: it may hold a database password');
  const text = readFileSync(hook, 'utf8');
  t.match(text, `export HYDRA_HOME='${dir}'`);
  t.match(text, "export DATABASE_URL='postgres://postgres@127.0.0.1:5432/hydra'");
  t.match(text, /'deploy' 'receive'\n$/);

  const again = await hydra(env, 'deploy', 'init', '--json');
  t.equal(again.code, 0, again.stderr);
  t.match(JSON.parse(again.stdout), { repo, hook, created: false, hookState: 'unchanged', branch: 'main', envFile: null });
  t.equal(readFileSync(hook, 'utf8'), text, 'unchanged');

  const envFile = path.join(dir, 'hydra.env');
  writeFileSync(envFile, 'REDIS_URL=redis://127.0.0.1:6380\n');
  const changed = await hydra(env, 'deploy', 'init', '--keep', '3', '--wait-timeout', '5000', '--env-file', envFile, '--json');
  t.equal(changed.code, 0, changed.stderr);
  t.match(JSON.parse(changed.stdout), { created: false, hookState: 'updated', envFile });
  t.match(readFileSync(hook, 'utf8'), /'deploy' 'receive' '--keep' '3' '--wait-timeout' '5000'\n$/);
  t.match(readFileSync(hook, 'utf8'), `. '${envFile}'`);
});

t.test('init and receive refuse bad input with one line', async (t) => {
  const dir = home(t);
  const env = { HYDRA_HOME: dir, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/hydra' };
  const bad = await hydra(env, 'deploy', 'init', '--keep', '0');
  t.equal(bad.code, 2);
  t.match(bad.stderr, "hydra deploy init: --keep: '0' is invalid; expected a whole number of at least 1\n");
  const branch = await hydra(env, 'deploy', 'init', '--branch=-x');
  t.equal(branch.code, 2);
  t.match(branch.stderr, "--branch: '-x' is invalid");
  const missing = await hydra(env, 'deploy', 'init', '--env-file', path.join(dir, 'nope.env'));
  // Node 20 itself looks at a `--env-file` even after the script name and stops (exit 9) when
  // the file is missing, before hydra sees it; later versions leave it to hydra (exit 1).
  t.not(missing.code, 0);
  t.match(missing.stderr, /nope\.env(: not found| does not exist; create it)/);
  const relative = await hydra(env, 'deploy', 'init', '--repo', 'deploy.git');
  t.equal(relative.code, 2);
  t.match(relative.stderr, "--repo: 'deploy.git' is invalid; expected an absolute path");
  const notBare = path.join(dir, 'work');
  execFileSync('git', ['init', '--quiet', notBare]);
  const worktree = await hydra(env, 'deploy', 'init', '--repo', notBare);
  t.equal(worktree.code, 1);
  t.match(worktree.stderr, 'is not a bare git repository');

  t.equal((await hydra(env, 'deploy', 'init')).code, 0);
  const garbage = execFileSync('sh', ['-c', `echo 'not a ref line' | env -u NODE_OPTIONS HYDRA_HOME=${dir} ${path.resolve('bin/hydra')} deploy receive 2>&1; echo "exit $?"`], { encoding: 'utf8' });
  t.match(garbage, "hydra: refused: 'not a ref line' is not a '<old> <new> <ref>' line as git gives a pre-receive hook");
  t.match(garbage, /exit 1\n$/);
});
