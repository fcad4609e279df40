/**
 * How many live streams (SSE and WebSocket together) one state instance holds: in total and per
 * client address, so a few clients cannot take every connection of the node (nginx limits them
 * too; this holds for whatever reaches the port). The client is nginx's `X-Real-IP`, else the
 * socket's address. Per-token caps come with API tokens.
 */
import type { IncomingMessage } from 'node:http';

export interface StreamRefusal {
  /** 503 when the instance is full, 429 when this client holds its share. */
  status: 429 | 503;
  reason: string;
}

export class StreamLimits {
  private total = 0;
  private readonly perClient = new Map<string, number>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  /** Takes a stream for `client`, or says why not; a taken stream must be released once. */
  take(client: string): StreamRefusal | null {
    if (this.total >= this.maxTotal) return { status: 503, reason: `this state instance holds its ${this.maxTotal} live streams (STATE_MAX_STREAMS); retry later` };
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.maxPerClient) return { status: 429, reason: `client ${client} holds ${held} live streams, the most one client may (STATE_MAX_STREAMS_PER_CLIENT); close one first` };
    this.total++;
    this.perClient.set(client, held + 1);
    return null;
  }

  release(client: string): void {
    const held = this.perClient.get(client) ?? 0;
    if (held <= 1) this.perClient.delete(client);
    else this.perClient.set(client, held - 1);
    this.total = Math.max(0, this.total - 1);
  }

  get held(): number {
    return this.total;
  }
}

/** The client a request comes from: nginx's X-Real-IP (the only way in), else the socket's peer. */
export function clientOf(req: IncomingMessage): string {
  const real = req.headers['x-real-ip'];
  return typeof real === 'string' && real !== '' ? real : (req.socket.remoteAddress ?? 'unknown');
}
