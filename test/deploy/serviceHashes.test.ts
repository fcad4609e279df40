/** What a service's hash covers: its folder, what it imports (transitively, every import form), the lockfile and its catalog entry. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { serviceFiles, serviceHashes } from '../../deploy/serviceHashes.js';

function app(t: Test, files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'hydra-hash-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

const FILES = {
  'services/a/index.js': "import { x } from '../../lib/x.js';\nexport * from './more.js';\nimport 'tiny-dep';\nconst lazy = () => import('../../lib/lazy.js');\n",
  'services/a/more.js': 'export const more = 1;\n',
  'services/a/schema.sql': 'CREATE TABLE a (id int);\n',
  'services/b/index.js': "import {\n  y,\n} from '../../lib/y.js';\nconst sql = new URL('../../lib/b.sql', import.meta.url);\n// import { nothing } from './missing.js';\n",
  'lib/x.js': "import { z } from './z.js';\nexport const x = z;\n",
  'lib/z.js': 'export const z = 1;\n',
  'lib/y.js': 'export const y = 2;\n',
  'lib/lazy.js': 'export default 3;\n',
  'lib/b.sql': 'SELECT 1;\n',
  'lib/unused.js': 'export const unused = 4;\n',
};

t.test("a service's files: its folder, static, re-exported, dynamic and import.meta.url references, transitively", async (t) => {
  const root = app(t, FILES);
  const rel = (files: string[]) => files.map((f) => path.relative(root, f));
  t.same(rel(serviceFiles(root, path.join(root, 'services/a/index.js'))), ['lib/lazy.js', 'lib/x.js', 'lib/z.js', 'services/a/index.js', 'services/a/more.js', 'services/a/schema.sql']);
  t.same(rel(serviceFiles(root, path.join(root, 'services/b/index.js'))), ['lib/b.sql', 'lib/y.js', 'services/b/index.js']);
});

t.test('hashes change with what the service runs and nothing else; they do not depend on where the release lies', async (t) => {
  const services = [
    { id: 'a', module: 'services/a/index.js', entry: { id: 'a', module: './a/index.js' } },
    { id: 'b', module: 'services/b/index.js', entry: { id: 'b', module: './b/index.js' } },
  ];
  const lock = Buffer.from('{"lockfileVersion":3}');
  const base = serviceHashes(app(t, FILES), services, lock);
  t.same(serviceHashes(app(t, FILES), services, lock), base, 'same content elsewhere, same hashes');
  const z = serviceHashes(app(t, { ...FILES, 'lib/z.js': 'export const z = 2;\n' }), services, lock);
  t.not(z.a, base.a, 'a transitive import changed a');
  t.equal(z.b, base.b);
  const unused = serviceHashes(app(t, { ...FILES, 'lib/unused.js': 'export const unused = 5;\n' }), services, lock);
  t.same(unused, base, 'a file no service imports changes nothing');
  const sql = serviceHashes(app(t, { ...FILES, 'lib/b.sql': 'SELECT 2;\n' }), services, lock);
  t.not(sql.b, base.b, 'an asset found through new URL(…, import.meta.url)');
  const relocked = serviceHashes(app(t, FILES), services, Buffer.from('{"lockfileVersion":3,"x":1}'));
  t.not(relocked.a, base.a);
  t.not(relocked.b, base.b, 'the lockfile changes every service');
  const env = serviceHashes(app(t, FILES), [{ ...services[0]!, entry: { id: 'a', module: './a/index.js', env: { A: '1' } } }, services[1]!], lock);
  t.not(env.a, base.a, 'its catalog entry');
  t.equal(env.b, base.b);
  const reordered = serviceHashes(app(t, FILES), [{ ...services[0]!, entry: { module: './a/index.js', id: 'a' } }, services[1]!], lock);
  t.same(reordered, base, 'the catalog entry by value, not by key order');
});
