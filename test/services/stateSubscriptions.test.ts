/**
 * Subscriptions of the state service, as a real process over real Redis and PostgreSQL: the SSE
 * stream, the WebSocket protocol (snapshot first, exactly the bound device's changes, field
 * bindings, errors that keep the connection, the binding limit, 404 for other upgrade paths),
 * and the reconnecting client surviving a SIGKILL of the service without re-binding.
 */
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { StateClient, type ChangeMessage, type SnapshotMessage } from '../../services/state/client.js';
import type { ServerMessage } from '../../services/state/protocol.js';
import { waitFor } from '../helpers/wait.js';
import { startState, update } from './stateHarness.js';

/** A raw WebSocket that records every message, for protocol-level assertions. */
async function rawSocket(t: Test, url: string, token: string) {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const got: ServerMessage[] = [];
  socket.on('message', (data) => got.push(JSON.parse(data.toString()) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  t.teardown(() => socket.terminate());
  return { socket, got, send: (m: unknown) => socket.send(typeof m === 'string' ? m : JSON.stringify(m)) };
}

t.test('GET /state/stream sends matching changes as `event: change` with the StateChangeV1 JSON', async (t) => {
  const h = await startState(t);
  const res = await fetch(`${h.base()}/state/stream?site=1&device=1002`, { headers: h.auth });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const reader = res.body!.getReader();
  t.teardown(() => reader.cancel());
  let text = '';
  const events = () => text.split('\n\n').filter((block) => block.startsWith('event: change'));
  await h.publish(update(1, 1001, 1, [{ item: 1 }]), update(1, 1002, 1, [{ item: 4, status: 'armed' }]));
  await waitFor('an SSE change event', async () => {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
    return events().length >= 1;
  });
  const [event] = events();
  const data = JSON.parse(event!.split('\ndata: ')[1]!) as { site: number; device: number; item: number; state: { status: string } };
  t.match(data, { site: 1, device: 1002, item: 4, seq: 1, state: { status: 'armed' } }, 'the change of the selected device only');
  t.ok(text.startsWith(': connected'), 'the stream opens with a comment');
});

t.test('GET /state/stream sends a snapshot of the selected items first, as the WebSocket does', async (t) => {
  const h = await startState(t);
  await h.publish(update(1, 1001, 1, [{ item: 1 }, { item: 2, status: 'armed' }]), update(1, 1002, 1, [{ item: 1 }]));
  await h.settled();
  await waitFor('the updates applied', async () => (await h.getJson<{ count: number }>('/state/items?site=1')).body.count === 3);
  const res = await fetch(`${h.base()}/state/stream?site=1&device=1001`, { headers: h.auth });
  const reader = res.body!.getReader();
  t.teardown(() => reader.cancel());
  let text = '';
  const blocks = () => text.split('\n\n').filter((block) => block.startsWith('event: '));
  await waitFor('the snapshot event', async () => {
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
    return blocks().length >= 1;
  });
  await h.publish(update(1, 1001, 2, [{ item: 1, status: 'fired' }]));
  await waitFor('a change after the snapshot', async () => {
    if (blocks().length >= 2) return true;
    const { value } = await reader.read();
    text += new TextDecoder().decode(value);
    return blocks().length >= 2;
  });
  const [snapshot, change] = blocks();
  t.ok(snapshot!.startsWith('event: snapshot\n'), 'the first event is the snapshot');
  const snap = JSON.parse(snapshot!.split('\ndata: ')[1]!) as { items: Array<{ device: number; item: number; seq: number; status: string }> };
  t.same(snap.items.map((s) => [s.device, s.item, s.seq, s.status]), [[1001, 1, 1, 'connected'], [1001, 2, 1, 'armed']], 'the current state of the selected device');
  t.ok(change!.startsWith('event: change\n'), 'then the changes');
  t.match(JSON.parse(change!.split('\ndata: ')[1]!), { device: 1001, item: 1, seq: 2, state: { status: 'fired' } });
});

t.test('a WebSocket bound to one device gets a snapshot first, then exactly that device\'s changes', async (t) => {
  const h = await startState(t);
  await h.publish(update(1, 1001, 1, [{ item: 1 }, { item: 2 }]), update(1, 1002, 1, [{ item: 1 }]));
  await h.settled();
  const ws = await rawSocket(t, h.wsUrl(), h.token);
  ws.send({ op: 'bind', id: 'unit', site: 1, device: 1001 });
  ws.send({ op: 'bind', id: 7, site: 1, device: 1001, field: 'voltage' });
  await waitFor('two snapshots', () => ws.got.filter((m) => m.type === 'snapshot').length === 2);
  const snap = ws.got[0] as SnapshotMessage;
  t.equal(snap.id, 'unit');
  t.same(snap.items.map((s) => [s.device, s.item, s.seq]), [[1001, 1, 1], [1001, 2, 1]], 'the current values of the device');

  // Interleaved traffic of two devices; 1001 gets 20 updates, 3 of which change the voltage.
  const expected: string[] = [];
  for (let seq = 2; seq <= 21; seq++) {
    await h.publish(update(1, 1001, seq, [{ item: seq % 2 ? 1 : 2, delayMs: seq, voltage: seq % 7 === 0 ? 20 + seq : 24.1 }]), update(1, 1002, seq, [{ item: 1, delayMs: seq }]));
    expected.push(`1001/${seq % 2 ? 1 : 2}/${seq}`);
  }
  await h.settled();
  await waitFor('20 changes for the device', () => ws.got.filter((m) => m.type === 'change' && m.id === 'unit').length >= 20);
  const changes = ws.got.filter((m): m is ChangeMessage => m.type === 'change');
  const forUnit = changes.filter((m) => m.id === 'unit');
  t.same(forUnit.map((m) => `${m.change.device}/${m.change.item}/${m.change.seq}`), expected, 'exactly the device\'s changes, in order');
  t.equal(ws.got.findIndex((m) => m.type === 'change'), 2, 'changes only after the snapshots');
  const voltage = changes.filter((m) => m.id === 7);
  t.ok(voltage.length >= 3 && voltage.every((m) => m.change.changed.includes('voltage') && m.field === 'voltage' && m.value === m.change.state.voltage), 'a field binding gets only that field\'s changes, with its value');

  ws.send({ op: 'unbind', id: 'unit' });
  await waitFor('unbound', () => ws.got.some((m) => m.type === 'unbound' && m.id === 'unit'));
});

t.test('bad WebSocket messages get an error with the reason and keep the connection; bindings are limited; other upgrade paths are 404', async (t) => {
  const h = await startState(t, { STATE_WS_MAX_BINDINGS: '2' });
  const ws = await rawSocket(t, h.wsUrl(), h.token);
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /not valid JSON/],
    [{ op: 'subscribe', id: 1, site: 1 }, /op: "subscribe" is not 'bind' or 'unbind'/],
    [{ op: 'bind', site: 1 }, /id: missing is not a binding id/],
    [{ op: 'bind', id: 'a' }, /site is required/],
    [{ op: 'bind', id: 'a', site: 1, device: 'x' }, /device: 'x' is not an id/],
    [{ op: 'bind', id: 'a', site: 1, field: 'colour' }, /field: 'colour' is not one of/],
    [{ op: 'bind', id: 'a', site: 1, sites: 2 }, /unknown field 'sites'/],
    [{ op: 'unbind', id: 'nope' }, /no binding with id "nope"/],
  ];
  for (const [message, reason] of cases) {
    const before = ws.got.length;
    ws.send(message);
    const answer = await waitFor('an answer', () => ws.got[before]);
    t.equal(answer.type, 'error', JSON.stringify(message));
    t.match((answer as { reason: string }).reason, reason);
  }
  ws.send({ op: 'bind', id: 1, site: 1 });
  ws.send({ op: 'bind', id: 2, site: 1 });
  ws.send({ op: 'bind', id: 3, site: 1 });
  await waitFor('three answers', () => ws.got.length === cases.length + 3);
  t.match(ws.got.at(-1), { type: 'error', id: 3, reason: /too many bindings on this connection \(limit 2\)/ });
  t.equal(ws.socket.readyState, WebSocket.OPEN, 'still connected');

  const other = new WebSocket(`ws://127.0.0.1:${h.child().port}/state/nope`, { headers: h.auth });
  other.on('error', () => undefined); // terminate() before open reports an error
  const status = await new Promise<number>((resolve) => other.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  other.terminate();
  t.equal(status, 404);
});

t.test('the reconnecting client gets a new snapshot and changes again after the service is SIGKILLed and restarted, with no re-bind by the application', async (t) => {
  const h = await startState(t);
  await h.publish(update(3, 30, 1, [{ item: 1 }]));
  await h.settled();
  const client = new StateClient({ url: h.wsUrl(), token: h.token, minBackoffMs: 50, maxBackoffMs: 500 });
  t.teardown(() => client.close());
  const snapshots: SnapshotMessage[] = [];
  const changes: ChangeMessage[] = [];
  client.on('snapshot', (m) => snapshots.push(m));
  client.on('change', (m) => changes.push(m));
  let disconnects = 0;
  client.on('disconnect', () => disconnects++);
  client.bind({ id: 'u30', site: 3, device: 30 }); // before the connection is open: sent on open

  await waitFor('the first snapshot', () => snapshots.length === 1);
  await h.publish(update(3, 30, 2, [{ item: 1, status: 'armed' }]), update(3, 31, 2, [{ item: 1 }]));
  await waitFor('a change', () => changes.length === 1);

  await h.kill(); // the harness pins the port, as nginx's upstream would be
  await waitFor('a second snapshot after reconnecting', () => snapshots.length === 2, 20_000);
  t.ok(disconnects >= 1, 'the client saw the connection drop');
  t.same(snapshots[1]!.items.map((s) => [s.item, s.seq, s.status]), [[1, 2, 'armed']], 'the snapshot after the restart is the state rebuilt from PostgreSQL');
  await h.publish(update(3, 30, 3, [{ item: 2, status: 'fired' }]), update(3, 31, 3, [{ item: 1 }]));
  await waitFor('a change after the restart', () => changes.length === 2);
  t.match(changes[1]!.change, { site: 3, device: 30, item: 2, seq: 3, state: { status: 'fired' } });
});

t.test('the server pings; a client that never answers is dropped; on stop, connected clients are told 1001 (going away) and the stop is prompt', async (t) => {
  const h = await startState(t, { STATE_WS_PING_MS: '100' });
  const answering = await rawSocket(t, h.wsUrl(), h.token);
  let pings = 0;
  answering.socket.on('ping', () => pings++);
  const silent = new WebSocket(h.wsUrl(), { autoPong: false, headers: h.auth });
  const silentClosed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
  await waitFor('pings', () => pings >= 3);
  t.equal(await silentClosed, 1006, 'the silent client was terminated');
  t.equal(answering.socket.readyState, WebSocket.OPEN, 'the answering client stays');

  const closed = new Promise<number>((resolve) => answering.socket.once('close', (code) => resolve(code)));
  const started = Date.now();
  await h.stop();
  t.equal(await closed, 1001, 'told the service is going away');
  t.ok(Date.now() - started < 3_000, `stopped in ${Date.now() - started} ms`);
});
