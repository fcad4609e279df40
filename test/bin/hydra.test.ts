/** The CLI entry: help, version and usage errors, run as a user would (the built bin/hydra). */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const HYDRA = fileURLToPath(new URL('../../bin/hydra', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function hydra(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // Through env(1) without NODE_OPTIONS: tap's process-info loader, which it re-adds to every
    // child it spawns, cannot load an extensionless ESM bin. Run as a user would.
    const { stdout, stderr } = await promisify(execFile)('env', ['-u', 'NODE_OPTIONS', HYDRA, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('--version prints the package version', async (t) => {
  const r = await hydra('--version');
  t.equal(r.code, 0);
  t.equal(r.stdout, `hydra ${pkg.version}\n`);
});

t.test('--help lists usage and exits 0', async (t) => {
  const r = await hydra('--help');
  t.equal(r.code, 0);
  t.match(r.stdout, /Usage: hydra <command> \[options\]/);
  t.match(r.stdout, /--version/);
});

t.test('an unknown command is a usage error naming it', async (t) => {
  const r = await hydra('frobnicate', 'now');
  t.equal(r.code, 2);
  t.equal(r.stderr, "hydra: unknown command 'frobnicate now'; run 'hydra --help' for the list\n");
});
