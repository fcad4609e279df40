/**
 * A spec's module path (from the database) and a release topology's modules must stay inside
 * the release: '..', an absolute path, or a topology entry pointing elsewhere are refused before
 * anything is started.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { resolveInstance } from '../../node/servicesHost.js';

const request = (releasePath: string, module: string | null, service = 'probe') => ({ slot: `${service}#1`, service, version: 'abc', releasePath, module, config: {} });

t.test("a spec's module outside its release is refused", async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'hydra-release-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const app = path.join(root, 'app');
  mkdirSync(path.join(app, 'services', 'probe'), { recursive: true });
  writeFileSync(path.join(app, 'services', 'probe', 'index.js'), 'export default {};\n');
  writeFileSync(path.join(root, 'evil.js'), 'export default {};\n');
  t.equal(resolveInstance(request(app, 'services/probe/index.js')).module, path.join(app, 'services', 'probe', 'index.js'), 'inside: fine');
  for (const bad of ['../evil.js', 'services/../../evil.js', path.join(root, 'evil.js'), '/etc/passwd']) {
    t.throws(() => resolveInstance(request(app, bad)), { message: /is outside the release/ }, `refused: ${bad}`);
  }
  // A release whose own topology points outside it.
  writeFileSync(path.join(app, 'services', 'topology.json'), JSON.stringify({ services: [{ id: 'probe', module: '../../evil.js' }] }));
  t.throws(() => resolveInstance(request(app, null)), { message: /release's topology names module .*evil\.js, outside the release/ });
});
