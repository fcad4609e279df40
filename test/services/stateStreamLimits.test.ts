/**
 * The state service caps its live streams (SSE and WebSocket together): per client address 429,
 * in total 503, each with the reason; a closed stream frees its place. A real instance over real
 * PostgreSQL and Redis, with small caps set through its environment.
 */
import t from 'tap';
import WebSocket from 'ws';
import { waitFor } from '../helpers/wait.js';
import { startState } from './stateHarness.js';

t.test('live streams are capped per client (429) and in total (503), SSE and WebSocket together', async (t) => {
  const h = await startState(t, { STATE_MAX_STREAMS: '4', STATE_MAX_STREAMS_PER_CLIENT: '2' });
  const held: AbortController[] = [];
  t.teardown(() => held.forEach((c) => c.abort()));
  const sse = async (client: string) => {
    const c = new AbortController();
    const res = await fetch(`${h.base()}/state/stream`, { headers: { ...h.auth, 'x-real-ip': client }, signal: c.signal });
    if (res.status === 200) {
      held.push(c);
      return { status: 200, body: null };
    }
    return { status: res.status, body: (await res.json()) as { error: string } };
  };
  t.equal((await sse('10.0.0.1')).status, 200);
  t.equal((await sse('10.0.0.1')).status, 200);
  const third = await sse('10.0.0.1');
  t.equal(third.status, 429, 'a third stream of one client is refused');
  t.match(third.body?.error, /client 10\.0\.0\.1 holds 2 live streams/);
  t.equal((await sse('10.0.0.2')).status, 200, 'another client still gets one');
  // The WebSocket counts with the SSE streams: this client's second stream is the instance's fourth.
  const ws = new WebSocket(h.wsUrl(), { headers: { ...h.auth, 'x-real-ip': '10.0.0.2' } });
  t.teardown(() => ws.terminate());
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  const full = await sse('10.0.0.3');
  t.equal(full.status, 503, 'the instance is full');
  t.match(full.body?.error, /holds its 4 live streams/);
  const refusedWs = new WebSocket(h.wsUrl(), { headers: { ...h.auth, 'x-real-ip': '10.0.0.3' } });
  const [code, reason] = (await new Promise((resolve) => refusedWs.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])))) as [number, string];
  t.equal(code, 1013, 'a WebSocket over the cap is closed 1013 (try again later)');
  t.match(reason, /live streams/);
  held.shift()!.abort();
  await waitFor('a place freed by the closed stream', async () => (await sse('10.0.0.3')).status === 200, 5_000);
});
