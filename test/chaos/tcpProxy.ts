/**
 * A TCP proxy the chaos tests put between a node and Redis or PostgreSQL, so "the server is
 * unreachable for some seconds" can be staged without touching a shared server: `cut()` destroys
 * every open connection (both sides, at once: what a pulled cable looks like to the client after
 * its keep-alive gives up) and refuses new ones until `restore()`. Refusing means accepting and
 * destroying at once, so a client sees ECONNRESET rather than a connection that hangs.
 */
import net from 'node:net';
import type { Teardown } from '../helpers/postgres.js';

export interface TcpProxy {
  /** 127.0.0.1 port the proxy listens on. */
  port: number;
  /** Drops every connection and refuses new ones. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  /** From now on, swallows what the server sends (until cut): replies that are lost on the way. */
  mute(): void;
  readonly isCut: boolean;
  /** Connections forwarded so far (a reconnect after a cut shows up here). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function tcpProxy(t: Teardown, target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const open = new Set<net.Socket>();
  let cut = false;
  let muted = false;
  let connections = 0;
  const server = net.createServer((client) => {
    if (cut) return void client.destroy();
    connections++;
    const upstream = net.connect({ host, port: target.port });
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!muted) client.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const proxy: TcpProxy = {
    port: address.port,
    get isCut() {
      return cut;
    },
    get connections() {
      return connections;
    },
    mute() {
      muted = true;
    },
    cut() {
      cut = true;
      muted = false;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      cut = false;
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.teardown(() => proxy.close());
  return proxy;
}
