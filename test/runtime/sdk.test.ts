/**
 * The service SDK: manifest validation (each bad field named with its value) and the `ctx`
 * a service gets (emit only what `produces` declares; emits of a batch published after it).
 */
import t, { type Test } from 'tap';
import { Channel, createMemoryTransport, EnvelopeError } from '../../channels/index.js';
import { SpecError } from '../../supervisor/errors.js';
import { createLogger } from '../../core/log.js';
import { createServiceContext } from '../../runtime/serviceContext.js';
import { defineService, type ServiceManifest } from '../../runtime/sdk.js';

const valid = (): ServiceManifest => ({
  name: 'parse',
  version: '1.2.0-rc.1+build.5',
  consumes: { 'packets.raw': ['packet.raw@2'] },
  produces: { 'packets.parsed': ['packet.parsed@1', 'packet.parsed@2'] },
  http: [
    { method: 'GET', path: '/', handler: () => ({ body: 'hi' }) },
    { method: 'GET', path: '/sites/:site', handler: () => undefined },
  ],
  handle: () => undefined,
  batchSize: 50,
  maxDeliveries: 3,
});

t.test('defineService returns the manifest itself once every field is valid', async (t) => {
  const m = valid();
  t.equal(defineService(m), m);
  t.ok(defineService({ name: 'tiny', version: '0.0.1' }), 'only name and version are required');
});

t.test('each bad field is a SpecError naming the field and the bad value', async (t) => {
  const cases: Array<[string, (m: Record<string, unknown>) => void, RegExp]> = [
    ['name upper case', (m) => (m.name = 'Parse'), /^name: "Parse" is invalid; expected a lower-case id/],
    ['name missing', (m) => delete m.name, /^name: undefined is invalid/],
    ['version not semver', (m) => (m.version = '1.2'), /^version: "1.2" is invalid; expected a semantic version/],
    ['unknown field', (m) => (m.consume = {}), /^consume: \{\} is invalid; expected no such field/],
    ['consumes not an object', (m) => (m.consumes = ['a']), /^consumes: \["a"\] is invalid/],
    ['bad channel name', (m) => (m.consumes = { 'Packets!': ['a@1'] }), /^consumes\['Packets!'\]: "Packets!" is invalid; expected a channel name/],
    ['empty ref list', (m) => (m.produces = { out: [] }), /^produces\['out'\]: \[\] is invalid; expected a non-empty array/],
    ['ref without version', (m) => (m.produces = { out: ['x@1', 'y'] }), /^produces\['out'\]\[1\]: "y" is invalid; expected a 'type@v' string/],
    ['ref version zero', (m) => (m.consumes = { in: ['x@0'] }), /^consumes\['in'\]\[0\]: "x@0" is invalid/],
    ['two versions of a consumed type', (m) => (m.consumes = { in: ['x@1', 'x@2'] }), /^consumes\['in'\]: \["x@1","x@2"\] is invalid; expected one version per type/],
    ['consumes without handle', (m) => delete m.handle, /^handle: undefined is invalid; expected a function, since the service consumes channels/],
    ['hook not a function', (m) => (m.init = 'yes'), /^init: "yes" is invalid; expected a function/],
    ['route method', (m) => ((m.http as Array<Record<string, unknown>>)[1]!.method = 'FETCH'), /^http\[1\]\.method: "FETCH" is invalid; expected one of GET, POST/],
    ['route path', (m) => ((m.http as Array<Record<string, unknown>>)[0]!.path = 'sites'), /^http\[0\]\.path: "sites" is invalid/],
    ['route trailing slash', (m) => ((m.http as Array<Record<string, unknown>>)[1]!.path = '/sites/'), /^http\[1\]\.path: "\/sites\/" is invalid/],
    ['route handler', (m) => ((m.http as Array<Record<string, unknown>>)[0]!.handler = null), /^http\[0\]\.handler: null is invalid; expected a function/],
    ['duplicate route', (m) => (m.http as unknown[]).push({ method: 'GET', path: '/sites/:id', handler: () => undefined }), /^http\[2\]\.path: "\/sites\/:id" is invalid; expected a route not already declared for GET/],
    ['batchSize', (m) => (m.batchSize = 0), /^batchSize: 0 is invalid; expected an integer from 1 to 10000/],
    ['maxDeliveries', (m) => (m.maxDeliveries = 2.5), /^maxDeliveries: 2.5 is invalid; expected an integer from 1 to 1000/],
  ];
  for (const [what, mutate, message] of cases) {
    const m = valid() as unknown as Record<string, unknown>;
    mutate(m);
    t.throws(() => defineService(m as unknown as ServiceManifest), { name: 'SpecError', message }, what);
  }
  t.throws(() => defineService(null as unknown as ServiceManifest), SpecError, 'not an object');
});

async function contextFor(t: Test) {
  const transport = await createMemoryTransport();
  t.teardown(() => transport.close());
  const out = new Channel(transport, 'out', { retentionIntervalMs: 0 });
  const manifest = defineService({ name: 'svc', version: '1.0.0', produces: { out: ['thing@1'] } });
  const lines: string[] = [];
  const rt = createServiceContext(manifest, 'svc#1', createLogger({}, { write: (l) => lines.push(l) }), new Map([['out', out]]));
  return { rt, out };
}

t.test('ctx.emit refuses a channel or type@v that produces does not declare, naming it', async (t) => {
  const { rt } = await contextFor(t);
  t.throws(() => rt.ctx.emit('elsewhere', 'thing@1', {}), { name: 'SpecError', message: `emit channel: "elsewhere" is invalid; expected a channel declared in produces of service 'svc' (out)` });
  t.throws(() => rt.ctx.emit('out', 'thing@2', {}), { name: 'SpecError', message: `emit type on 'out': "thing@2" is invalid; expected a type@v declared for it in produces (thing@1)` });
  t.throws(() => rt.ctx.emit('out', 'thing@1', { bad: NaN }), EnvelopeError, 'a body JSON cannot carry fails at the emitting line');
  t.match(rt.ctx, { service: 'svc', version: '1.0.0', instance: 'svc#1', counters: {} });
});

t.test("a batch's emits are published after handle resolves, and not at all when it fails", async (t) => {
  const { rt, out } = await contextFor(t);
  await rt.inBatch(async () => {
    await rt.ctx.emit('out', 'thing@1', { n: 1 }, 'k1');
    await rt.ctx.emit('out', 'thing@1', { n: 2 });
    t.equal(await out.length(), 0, 'nothing published while handle runs');
  });
  t.equal(await out.length(), 2, 'published once it resolved');
  t.equal(rt.emitted(), 2);
  await t.rejects(
    rt.inBatch(async () => {
      await rt.ctx.emit('out', 'thing@1', { n: 3 });
      throw new Error('handler failed');
    }),
    /handler failed/,
  );
  t.equal(await out.length(), 2, 'the failed batch published nothing');
});

t.test('an emit outside a batch (HTTP, timers, after handle returned) is published at once', async (t) => {
  const { rt, out } = await contextFor(t);
  await rt.ctx.emit('out', 'thing@1', { n: 1 });
  t.equal(await out.length(), 1, 'outside handle');
  let late: Promise<void> | undefined;
  await rt.inBatch(() => {
    // A task the handler leaves running: its emit must not land in a batch already flushed.
    setTimeout(() => (late = rt.ctx.emit('out', 'thing@1', { n: 2 })), 20);
  });
  await new Promise((r) => setTimeout(r, 50));
  await late;
  t.equal(await out.length(), 2, 'the late emit was published, not dropped');
});

t.test('functions and upcasters: valid ones pass, each bad one named', async (t) => {
  const m = { ...valid(), functions: { compact: () => 1 }, upcasters: [{ type: 'packet.raw', from: 1, to: 2, convert: (b: unknown) => b }] };
  t.equal(defineService(m), m);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ functions: [] }, /^functions: \[\] is invalid; expected an object of name → /],
    [{ functions: { '1x': () => 1 } }, /^functions\.1x: "1x" is invalid; expected a function name/],
    [{ functions: { compact: 'no' } }, /^functions\.compact: "no" is invalid; expected a function/],
    [{ functions: { compact: { params: {} } } }, /^functions\.compact\.run: undefined is invalid; expected a function/],
    [{ functions: { compact: { run: () => 1, params: { n: { type: 'int' } } } } }, /^functions\.compact\.params\.n\.type: "int" is invalid; expected one of string, number, integer/],
    [{ functions: { compact: { run: () => 1, params: { n: { type: 'integer', default: 'x' } } } } }, /^functions\.compact\.params\.n\.default: "x" is invalid; expected an integer/],
    [{ functions: { compact: { run: () => 1, params: { n: { type: 'integer', default: 1, required: true } } } } }, /^functions\.compact\.params\.n\.required: true is invalid; expected false \(or no default\)/],
    [{ functions: { compact: { run: () => 1, params: { '9x': { type: 'string' } } } } }, /^functions\.compact\.params\.9x: "9x" is invalid; expected a parameter name/],
    [{ functions: { compact: { run: () => 1, params: {}, roles: ['ops'] } } }, /^functions\.compact\.roles: "ops" is invalid; expected one of scheduler, operator/],
    [{ functions: { compact: { run: () => 1, params: {}, roles: [] } } }, /^functions\.compact\.roles: \[\] is invalid; expected a non-empty array of scheduler, operator/],
    [{ functions: { compact: { run: () => 1, params: {}, owner: 'x' } } }, /^functions\.compact\.owner: "x" is invalid; expected no such field \(params, description, roles, run\)/],
    [{ upcasters: {} }, /^upcasters: \{\} is invalid; expected an array/],
    [{ upcasters: [{ type: 'Bad Type', from: 1, to: 2, convert: () => 1 }] }, /^upcasters\[0\]\.type: "Bad Type" is invalid/],
    [{ upcasters: [{ type: 'work', from: 0, to: 2, convert: () => 1 }] }, /^upcasters\[0\]\.from: 0 is invalid; expected a version/],
    [{ upcasters: [{ type: 'work', from: 2, to: 2, convert: () => 1 }] }, /^upcasters\[0\]\.to: 2 is invalid; expected a version other than from \(2\)/],
    [{ upcasters: [{ type: 'work', from: 1, to: 2 }] }, /^upcasters\[0\]\.convert: undefined is invalid; expected a function/],
  ];
  for (const [extra, message] of bad) t.throws(() => defineService({ ...valid(), ...extra } as unknown as ServiceManifest), { name: 'SpecError', message }, JSON.stringify(Object.keys(extra)));
});
