/**
 * Envelope validation: a message without type or version, or with a body that cannot be
 * serialised, is refused with an error naming the field, and nothing is written.
 */
import t from 'tap';
import { Channel, EnvelopeError, createMemoryTransport, decodeEntry, encodeMessage, parseTypeRef, type OutgoingMessage } from '../../channels/index.js';
import { MonotonicIds, compareStreamIds } from '../../channels/streamId.js';

const bad = (m: unknown) => m as OutgoingMessage;

t.test('publish refuses a bad envelope naming the field, and writes nothing', async (t) => {
  const transport = await createMemoryTransport();
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'bad.input');
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: Array<[string, unknown, RegExp]> = [
    ['missing type', { v: 1, body: {} }, /envelope field 'type': is missing/],
    ['bad type', { type: 'Has Spaces', v: 1, body: {} }, /envelope field 'type': "Has Spaces" is not a type name/],
    ['missing version', { type: 'x', body: {} }, /envelope field 'v': is missing/],
    ['version not an integer', { type: 'x', v: 1.5, body: {} }, /envelope field 'v': 1.5 is not a schema version/],
    ['version as string', { type: 'x', v: '1', body: {} }, /envelope field 'v': "1" is not a schema version/],
    ['undefined body', { type: 'x', v: 1 }, /envelope field 'body': is missing/],
    ['bigint', { type: 'x', v: 1, body: { count: 10n } }, /envelope field 'body.count': a bigint cannot be serialised/],
    ['NaN deep inside', { type: 'x', v: 1, body: { items: [{ voltage: 1 }, { voltage: NaN }] } }, /envelope field 'body.items\[1\].voltage': NaN cannot be serialised/],
    ['function', { type: 'x', v: 1, body: { f: () => 1 } }, /envelope field 'body.f': a function cannot be serialised/],
    ['cycle', { type: 'x', v: 1, body: cyclic }, /envelope field 'body.self': is a circular reference/],
    ['class instance', { type: 'x', v: 1, body: { m: new Map() } }, /envelope field 'body.m': a Map instance is not plain data/],
    ['bad key', { type: 'x', v: 1, key: 42, body: {} }, /envelope field 'key'/],
  ];
  for (const [what, message, error] of cases) {
    await t.rejects(channel.publish(bad(message)), error, what);
  }
  await t.rejects(channel.publishMany([{ type: 'x', v: 1, body: 1 }, bad({ type: 'x', body: 2 })]), /envelope field 'messages\[1\].v': is missing/, 'batch names the index');
  t.equal(await channel.length(), 0, 'no bad message, and no message of a refused batch, was written');
  const err = await channel.publish(bad({ type: 'x', v: 1, body: { n: 10n } })).catch((e: unknown) => e);
  t.ok(err instanceof EnvelopeError);
  t.equal((err as EnvelopeError).field, 'body.n');
});

t.test('a body over the size limit is refused with the sizes', async (t) => {
  t.throws(() => encodeMessage({ type: 'x', v: 1, body: 'a'.repeat(100) }, 0, 50), /'body': is 102 bytes serialised, over the limit of 50/);
});

t.test('encode and decode round-trip', async (t) => {
  const fields = encodeMessage({ type: 'packet.raw', v: 2, key: 'dev-7', body: { frame: 'AAEC', at: [1, 2] } }, 1_700_000_000_123);
  t.same(decodeEntry('5-0', fields), { id: '5-0', type: 'packet.raw', v: 2, ts: 1_700_000_000_123, key: 'dev-7', body: { frame: 'AAEC', at: [1, 2] } });
});

t.test('type@version references parse and refuse bad ones', async (t) => {
  t.same(parseTypeRef('packet.raw@1'), { type: 'packet.raw', v: 1 });
  t.throws(() => parseTypeRef('packet.raw'), /not of the form type@version/);
  t.throws(() => parseTypeRef('packet.raw@x'), /'v': "x" is not a schema version/);
});

t.test('ids are strictly increasing even when the clock steps back', async (t) => {
  const ids = new MonotonicIds();
  const seq = [ids.next(1000), ids.next(1000), ids.next(999), ids.next(1001), ids.next(5)];
  t.same(seq, ['1000-0', '1000-1', '1000-2', '1001-0', '1001-1']);
  for (let i = 1; i < seq.length; i++) t.ok(compareStreamIds(seq[i]!, seq[i - 1]!) > 0);
});
