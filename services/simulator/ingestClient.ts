/**
 * Posts batches to ingest (`POST <url>/ingest/packets`, `application/x-hydra-batch`, the device's
 * bearer token) over keep-alive connections, HTTP or HTTPS. node:http rather than fetch: it lets
 * `--insecure` accept a node's self-signed certificate without touching process-wide TLS settings.
 */
import http from 'node:http';
import https from 'node:https';

export interface IngestAnswer {
  status: number;
  text: string;
  /** Seconds from a Retry-After header, if any. */
  retryAfter: number | null;
}

export interface IngestClientOptions {
  insecure?: boolean;
  /** Sockets kept open at most; default 8. */
  maxSockets?: number;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

export class IngestClient {
  readonly endpoint: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, options: IngestClientOptions = {}) {
    const base = new URL(baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`url: ${baseUrl} is not an http:// or https:// URL`);
    this.endpoint = new URL(`${base.pathname.replace(/\/+$/, '')}/ingest/packets`, base);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 8 };
    this.agent = base.protocol === 'https:' ? new https.Agent({ ...agentOptions, rejectUnauthorized: !options.insecure }) : new http.Agent(agentOptions);
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** Resolves with any HTTP answer; rejects only when there is none (connection refused, reset, timeout). */
  post(token: string, body: Buffer): Promise<IngestAnswer> {
    const request = this.endpoint.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        this.endpoint,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/x-hydra-batch', 'content-length': body.length, authorization: `Bearer ${token}` },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const retry = Number(res.headers['retry-after']);
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter: Number.isFinite(retry) && retry >= 0 ? retry : null });
          });
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The most telling short reason for a failed request: `ECONNREFUSED`, a TLS complaint, … */
export function connectionReason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code && e.message && !e.message.includes(e.code)) return `${e.code} (${e.message})`;
  return e.message ?? e.code ?? String(err);
}
