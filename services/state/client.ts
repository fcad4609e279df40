/**
 * A client of `/state/ws` (protocol.ts) that an application keeps for its lifetime: it
 * reconnects with backoff whenever the connection drops (the state service was re-placed,
 * restarted, or nginx reloaded) and re-sends its binds, so the application never re-subscribes.
 * After each (re)connection every binding gets a fresh `snapshot` (the current values, which
 * cover whatever changed while disconnected), then `change` events.
 *
 *   const client = new StateClient({ url: 'wss://node/state/ws', token: process.env.HYDRA_TOKEN });
 *   client.on('snapshot', (m) => …); client.on('change', (m) => …);
 *   client.bind({ id: 'unit-1001', site: 1, device: 1001 });
 *
 * Liveness: the server pings every 30 s; a connection silent for `idleTimeoutMs` (no message,
 * no ping) is presumed dead (a half-open TCP connection never closes by itself) and replaced.
 */
import { backoff } from '../../core/backoff.js';
import { EventEmitter } from 'node:events';
import WebSocket, { type ClientOptions } from 'ws';
import type { Binding, BindingId, ClientMessage, ServerMessage } from './protocol.js';

export interface StateClientOptions {
  /** ws:// or wss:// URL of the endpoint, e.g. ws://127.0.0.1:8080/state/ws. */
  url: string;
  /** First reconnect delay, doubled per failed attempt up to maxBackoffMs (with jitter). Defaults 100 ms, 5 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Silence after which the connection is replaced. Default 75 s (two server pings and slack). */
  idleTimeoutMs?: number;
  /** A viewer (or operator) API token (`hydra token create --role viewer`), sent as `Authorization: Bearer` on every (re)connection. */
  token?: string;
  /** Passed to `ws` (TLS options, other headers). */
  socket?: ClientOptions;
}

export type SnapshotMessage = Extract<ServerMessage, { type: 'snapshot' }>;
export type ChangeMessage = Extract<ServerMessage, { type: 'change' }>;
export type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

export interface StateClientEvents {
  open: [];
  /** The connection ended; a reconnect follows unless `close()` was called. */
  disconnect: [code: number, reason: string];
  snapshot: [message: SnapshotMessage];
  change: [message: ChangeMessage];
  /** The server refused a message (a bad bind); not a disconnect. */
  rejected: [message: ErrorMessage];
}

export class StateClient extends EventEmitter<StateClientEvents> {
  private readonly bindings = new Map<BindingId, Binding>();
  private socket: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private nextId = 1;
  private retryTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: StateClientOptions) {
    super();
    this.connect();
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Adds (or replaces) a binding, kept across reconnections; returns its id. */
  bind(binding: Binding & { id?: BindingId }): BindingId {
    const { id = `b${this.nextId++}`, ...rest } = binding;
    this.bindings.set(id, rest);
    this.send({ op: 'bind', id, ...rest });
    return id;
  }

  unbind(id: BindingId): void {
    if (this.bindings.delete(id)) this.send({ op: 'unbind', id });
  }

  /** Closes for good: no reconnect. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close(1000, 'client closing');
      // A server that does not answer the close handshake must not hold the caller.
      setTimeout(() => socket.terminate(), 2_000).unref();
    });
  }

  private connect(): void {
    const { token, socket: socketOptions } = this.options;
    const socket = new WebSocket(this.options.url, token === undefined ? socketOptions : { ...socketOptions, headers: { ...socketOptions?.headers, authorization: `Bearer ${token}` } });
    this.socket = socket;
    this.touch();
    socket.on('open', () => {
      this.attempt = 0;
      // Re-send every binding: the instance on the other end may be a new one that knows none.
      for (const [id, binding] of this.bindings) this.send({ op: 'bind', id, ...binding });
      this.emit('open');
    });
    socket.on('message', (data) => {
      this.touch();
      let m: ServerMessage;
      try {
        m = JSON.parse(data.toString()) as ServerMessage;
      } catch {
        return; // not our protocol; nothing sensible to do with it
      }
      // Messages for a binding dropped meanwhile are stale.
      if (m.type === 'snapshot' && this.bindings.has(m.id)) this.emit('snapshot', m);
      else if (m.type === 'change' && this.bindings.has(m.id)) this.emit('change', m);
      else if (m.type === 'error') this.emit('rejected', m);
    });
    socket.on('ping', () => this.touch());
    // Connection errors are followed by 'close', where the reconnect is planned.
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      if (this.socket === socket) this.socket = null;
      this.emit('disconnect', code, reason.toString());
      if (!this.closed) this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    // Jitter: after a node restart, every screen must not reconnect in the same millisecond.
    const delay = backoff(this.attempt++, { baseMs: this.options.minBackoffMs ?? 100, maxMs: this.options.maxBackoffMs ?? 5_000, jitter: 'equal' });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) this.connect();
    }, delay);
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const socket = this.socket;
    this.idleTimer = setTimeout(() => socket?.terminate(), this.options.idleTimeoutMs ?? 75_000);
  }

  private send(message: ClientMessage): void {
    // While disconnected the binding is only recorded; it is sent on the next 'open'.
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
