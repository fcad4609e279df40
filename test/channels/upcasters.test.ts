/** The upcaster registry: shortest chains, downcasts, and clear errors. */
import t from 'tap';
import { Upcasters, UpcastError, type Envelope } from '../../channels/index.js';

const env = (v: number, body: unknown): Envelope => ({ id: '1-0', type: 'item', v, ts: 0, body });

t.test('converts along the chain of registered steps', async (t) => {
  const reg = new Upcasters()
    .register('item', 1, 2, (b) => ({ ...(b as object), two: true }))
    .register('item', 2, 3, (b) => ({ ...(b as object), three: true }))
    .register('item', 3, 2, (b) => ({ two: (b as { two: boolean }).two }));
  t.same(reg.convert(env(1, { one: true }), 3), { ...env(3, { one: true, two: true, three: true }) });
  t.same(reg.convert(env(3, { two: true, three: true }), 2).body, { two: true }, 'a registered down-step works');
  const same = env(2, {});
  t.equal(reg.convert(same, 2), same, 'no conversion when the version matches');
  t.ok(reg.canConvert('item', 1, 3));
  t.notOk(reg.canConvert('item', 3, 1));
});

t.test('refuses what it cannot do, naming the type and versions', async (t) => {
  const reg = new Upcasters().register('item', 1, 2, () => {
    throw new Error('field gone');
  });
  t.throws(() => reg.convert(env(2, {}), 1), new UpcastError('item', 2, 1, 'no chain of registered upcasters leads there'));
  t.throws(() => reg.convert(env(1, {}), 2), /cannot convert item@1 to item@2: the converter threw: field gone/);
  t.throws(() => reg.register('item', 1, 2, (b) => b), /already registered/);
});
