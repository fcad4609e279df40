/**
 * A small app to push in the deploy tests: plain ESM JavaScript under src/, a build script
 * (`node build.mjs`: a syntax check of every file, then src/ copied to dist/), a catalog and
 * three services that are real Hydra manifests (they import this repository's built SDK by
 * absolute path), alpha and beta sharing a helper (src/lib/label.js), gamma using a dependency
 * installed from a tarball in the app itself (so npm ci runs offline and fills node_modules).
 *
 *   alpha ── items.raw (item.raw@1) ──▶ beta ── items.done (item.done@1) ──▶ gamma
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
export const SDK_URL = pathToFileURL(path.join(DIST, 'runtime', 'sdk.js')).href;

const BUILD = `// Fails on a syntax error with node's message, like a compiler would; then copies src/ to dist/.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const delay = existsSync('build-delay-ms') ? Number(readFileSync('build-delay-ms', 'utf8')) : 0;
if (delay > 0) {
  console.log(\`slow build: waiting \${delay} ms\`);
  await new Promise((r) => setTimeout(r, delay));
}
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isDirectory()) walk(file);
    else if (file.endsWith('.js')) files.push(file);
  }
})('src');
const check = (file) => new Promise((resolve) => execFile(process.execPath, ['--check', file], (err, _out, stderr) => resolve(err ? { file, stderr } : null)));
const failed = (await Promise.all(files.map(check))).filter(Boolean);
if (failed.length > 0) {
  const lines = failed[0].stderr.trim().split('\\n');
  console.error(\`\${failed[0].file}: \${lines.find((l) => /Error/.test(l)) ?? lines.pop()}\`);
  process.exit(1);
}
rmSync('dist', { recursive: true, force: true });
cpSync('src', 'dist', { recursive: true });
console.log('built dist/');
`;

/** The app's files (tarball and lockfile aside), by path. */
export function appFiles(): Record<string, string> {
  return {
    'package.json': `${JSON.stringify({ name: 'fixture-app', version: '1.0.0', private: true, type: 'module', scripts: { build: 'node build.mjs' }, dependencies: { 'tiny-dep': 'file:vendor/tiny-dep-1.0.0.tgz' } }, null, 2)}\n`,
    'build.mjs': BUILD,
    'src/services/topology.json': `${JSON.stringify({ services: [{ id: 'alpha', module: './alpha/index.js' }, { id: 'beta', module: './beta/index.js' }, { id: 'gamma', module: './gamma/index.js' }] }, null, 2)}\n`,
    'src/lib/label.js': "export function label(name) {\n  return `fixture service ${name}`;\n}\n",
    'src/services/alpha/index.js': alpha(),
    'src/services/beta/index.js': beta('item.raw@1'),
    'src/services/gamma/index.js': `import { defineService } from '${SDK_URL}';
import { tiny } from 'tiny-dep';

export default defineService({
  name: 'gamma',
  version: '1.0.0',
  consumes: { 'items.done': ['item.done@1'] },
  async handle(batch, ctx) {
    ctx.counters.seen = (ctx.counters.seen ?? 0) + batch.length;
    ctx.log.debug(tiny('seen'));
  },
});
`,
  };
}

function alpha(): string {
  return `import { defineService } from '${SDK_URL}';
import { label } from '../../lib/label.js';

export default defineService({
  name: 'alpha',
  version: '1.0.0',
  produces: { 'items.raw': ['item.raw@1'] },
  health: () => ({ healthy: true, detail: label('alpha') }),
});
`;
}

/** beta consuming the given ref from items.raw, with the given manifest upcasters (source text). */
export function beta(consumed: string, upcasters = ''): string {
  return `import { defineService } from '${SDK_URL}';
import { label } from '../../lib/label.js';

export default defineService({
  name: 'beta',
  version: '1.0.0',
  consumes: { 'items.raw': ['${consumed}'] },
  produces: { 'items.done': ['item.done@1'] },${upcasters ? `\n  upcasters: ${upcasters},` : ''}
  async handle(batch, ctx) {
    for (const m of batch) await ctx.emit('items.done', 'item.done@1', { from: label('beta'), body: m.body });
  },
});
`;
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
}

let template: string | undefined;

/**
 * The app as a folder (made once per test process): files, vendor/tiny-dep-1.0.0.tgz and a
 * package-lock.json pointing at it with its integrity, written directly (no npm run needed).
 */
export function fixtureTemplate(): string {
  if (template) return template;
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-fixture-app-'));
  write(dir, appFiles());
  const pkg = path.join(dir, '.tiny');
  write(pkg, { 'package/package.json': '{ "name": "tiny-dep", "version": "1.0.0", "type": "module", "main": "index.js" }\n', 'package/index.js': 'export const tiny = (s) => `tiny:${s}`;\n' });
  mkdirSync(path.join(dir, 'vendor'));
  const tgz = path.join(dir, 'vendor', 'tiny-dep-1.0.0.tgz');
  execFileSync('tar', ['-czf', tgz, '-C', pkg, 'package']);
  execFileSync('rm', ['-rf', pkg]);
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
  const lock = {
    name: 'fixture-app',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'fixture-app', version: '1.0.0', dependencies: { 'tiny-dep': 'file:vendor/tiny-dep-1.0.0.tgz' } },
      'node_modules/tiny-dep': { version: '1.0.0', resolved: 'file:vendor/tiny-dep-1.0.0.tgz', integrity },
    },
  };
  writeFileSync(path.join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  writeFileSync(path.join(dir, '.gitignore'), 'node_modules/\ndist/\n');
  template = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
