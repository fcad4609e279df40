/**
 * The server side of `/state/ws` (protocol.ts): per connection a set of bindings, answered with
 * a snapshot on bind and then fed every matching change from the live state.
 *
 * Limits, because one screen must not hurt the node: at most `maxBindings` per connection; a
 * connection whose unsent data passes `maxBufferedBytes` is dropped (a slow consumer would
 * otherwise grow this process's memory without bound; on reconnect it gets a fresh snapshot,
 * which is the right recovery anyway); frames over 64 KiB are refused by the runtime. A ping
 * every `pingMs` keeps nginx (60 s idle timeout) from cutting a quiet connection, and a
 * connection that did not answer the previous ping is terminated as dead.
 */
import type { RawData } from 'ws';
import type { WebSocketEndpoint } from '../../runtime/sdk.js';
import type { StateChangeV1 } from '../messages.js';
import type { LiveState } from './liveState.js';
import { clientOf, type StreamLimits } from './streamLimits.js';
import { parseClientMessage, ProtocolError, type BindingId, type ServerMessage } from './protocol.js';
import { matchesChange, type Selector } from './selector.js';

export interface WsOptions {
  /** Shared with the SSE route: live streams in total and per client. */
  limits?: StreamLimits;
  maxBindings?: number;
  maxBufferedBytes?: number;
  pingMs?: number;
}

/** What a connection reads from the instance state. */
export interface WsState {
  live: LiveState;
  settings: WsOptions;
}

/** The manifest's WebSocket endpoint at `/ws`. */
export const stateWebSocket: WebSocketEndpoint<WsState> = {
  path: '/ws',
  onConnection(socket, req, ctx, { live, settings }) {
    const client = clientOf(req);
    const refused = settings.limits?.take(client) ?? null;
    if (refused) {
      // 1013: try again later; the reason says which limit.
      socket.close(1013, refused.reason.slice(0, 120));
      return;
    }
    if (settings.limits) socket.on('close', () => settings.limits!.release(client));
    const maxBindings = settings.maxBindings ?? 100;
    const maxBuffered = settings.maxBufferedBytes ?? 1024 * 1024;
    const pingMs = settings.pingMs ?? 30_000;
    const count = (name: string) => void (ctx.counters[name] = (ctx.counters[name] ?? 0) + 1);
    const bindings = new Map<BindingId, Selector>();
    let alive = true;
    // The open connections of this instance: counted up here and down on close.
    count('ws_connections');

    const send = (message: ServerMessage): void => {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > maxBuffered) {
        count('ws_dropped_slow');
        ctx.log.warn('websocket client too slow; dropped', { bufferedBytes: socket.bufferedAmount, bindings: bindings.size });
        socket.terminate();
        return;
      }
      socket.send(JSON.stringify(message));
    };

    const onChange = (change: StateChangeV1): void => {
      for (const [id, sel] of bindings) {
        if (!matchesChange(sel, change)) continue;
        send(sel.field ? { type: 'change', id, change, field: sel.field, value: change.state[sel.field] } : { type: 'change', id, change });
      }
    };
    const unsubscribe = live.subscribe(onChange);

    socket.on('message', (data: RawData, isBinary: boolean) => {
      try {
        if (isBinary) throw new ProtocolError('binary frames are not accepted; send JSON text');
        const m = parseClientMessage(data.toString());
        if (m.op === 'unbind') {
          if (!bindings.delete(m.id)) throw new ProtocolError(`no binding with id ${JSON.stringify(m.id)}`, m.id);
          return send({ type: 'unbound', id: m.id });
        }
        if (!bindings.has(m.id) && bindings.size >= maxBindings) throw new ProtocolError(`too many bindings on this connection (limit ${maxBindings}); unbind some first`, m.id);
        const { op: _op, id, ...sel } = m;
        bindings.set(id, sel);
        // Snapshot and registration in one synchronous step: no change can fall between them.
        send({ type: 'snapshot', id, items: live.select(sel) });
      } catch (err) {
        count('ws_bad_messages');
        const reason = err instanceof Error ? err.message : String(err);
        send(err instanceof ProtocolError && err.id !== undefined ? { type: 'error', id: err.id, reason } : { type: 'error', reason });
      }
    });

    socket.on('pong', () => (alive = true));
    const pinger = setInterval(() => {
      if (!alive) return void socket.terminate();
      alive = false;
      socket.ping();
    }, pingMs);

    socket.on('close', () => {
      clearInterval(pinger);
      unsubscribe();
      ctx.counters.ws_connections = (ctx.counters.ws_connections ?? 1) - 1;
    });
    // An 'error' is followed by 'close'; without a listener it would crash the process.
    socket.on('error', (err) => ctx.log.debug('websocket error', { err: err.message }));
  },
};
