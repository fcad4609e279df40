import t from 'tap';
import { CHILD_ID_MAX, isChildId, isNodeId, isSemver, isServiceName } from '../../core/ids.js';

t.test('versions are semver.org versions, checked by the semver package', async (t) => {
  for (const ok of ['1.2.3', '0.0.0', '1.2.3-rc.1', '1.2.3+build.5', '10.20.30-alpha.beta+exp.sha.5114f85']) t.ok(isSemver(ok), ok);
  for (const bad of ['01.2.3', '1.02.3', '1.2', 'v1.2.3', ' 1.2.3', '1.2.3 ', '=1.2.3', '1.2.3-', '', 123, null]) t.notOk(isSemver(bad), String(bad));
});

t.test('child ids: 1-100 letters, digits or _ . @ # : -', async (t) => {
  t.ok(isChildId('parse#1@0123456789ab'));
  t.ok(isChildId('a'.repeat(CHILD_ID_MAX)));
  t.notOk(isChildId('a'.repeat(CHILD_ID_MAX + 1)), 'one over the limit');
  t.notOk(isChildId(''));
  t.notOk(isChildId('a b'));
  t.ok(isChildId(`${'s'.repeat(64)}#9999@0123456789ab`), 'the longest id the scheduler makes fits');
});

t.test('node ids are DNS labels; service names allow upper case, _ . :', async (t) => {
  t.ok(isNodeId('edge-7'));
  for (const bad of ['Edge', 'a_b', 'a.b', '-a', 'a'.repeat(64), '']) t.notOk(isNodeId(bad), bad);
  t.ok(isServiceName('Store_2.v:x'));
  for (const bad of ['_a', 'a b', 'a'.repeat(65), '']) t.notOk(isServiceName(bad), bad);
});
