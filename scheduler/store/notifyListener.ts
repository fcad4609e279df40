/**
 * The node's LISTEN connection (migration 005 NOTIFYs what changes): one direct pg.Client, not
 * a pooled one and never through PgBouncer, whose transaction pooling hands the session that
 * ran LISTEN to other clients (docs/architecture.md "Traps"). A lost connection is opened again with a
 * growing backoff; after each (re)connect every channel is reported once as `resync`, because
 * what was notified while disconnected is gone. Polling stays the backstop either way.
 */
import { backoff } from '../../core/backoff.js';
import pg from 'pg';
import type { Logger } from '../../core/log.js';

export interface NotifyListenerOptions {
  /** A direct PostgreSQL URL (HYDRA_LISTEN_DATABASE_URL). */
  url: string;
  channels: string[];
  /** `payload` null: a (re)connect, anything may have changed. */
  onNotify: (channel: string, payload: string | null) => void;
  log: Logger;
  /** Shown in pg_stat_activity. */
  applicationName: string;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

export class NotifyListener {
  private client: pg.Client | null = null;
  private stopped = false;
  /** Failed connects in a row, for the backoff. */
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: NotifyListenerOptions) {}

  /** Whether LISTEN is in place now. */
  get listening(): boolean {
    return this.client !== null;
  }

  start(): void {
    this.stopped = false;
    this.connecting = this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.connecting;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const { log, channels } = this.options;
    const client = new pg.Client({ connectionString: this.options.url, application_name: this.options.applicationName, connectionTimeoutMillis: 5_000, keepAlive: true });
    let lost = false;
    const onLost = (why: string) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => undefined);
      if (this.stopped) return;
      log.warn('LISTEN connection lost; polling until it is back', { why, retryInMs: this.retry() });
    };
    client.on('error', (err) => onLost(err.message));
    client.on('end', () => onLost('connection ended'));
    client.on('notification', (n) => this.options.onNotify(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      for (const ch of channels) await client.query(`LISTEN ${client.escapeIdentifier(ch)}`);
    } catch (err) {
      if (!lost) {
        lost = true;
        await client.end().catch(() => undefined);
        if (!this.stopped) {
          log.warn('cannot LISTEN; polling until it works', { err, retryInMs: this.retry() });
        }
      }
      return;
    }
    if (this.stopped || lost) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.failures = 0;
    log.info('listening for changes', { channels });
    for (const ch of channels) this.options.onNotify(ch, null);
  }

  /** Schedules the next connect; returns its delay in ms. */
  private retry(): number {
    clearTimeout(this.timer);
    const wait = backoff(this.failures++, { baseMs: BACKOFF_MIN_MS, maxMs: BACKOFF_MAX_MS });
    this.timer = setTimeout(() => {
      if (!this.stopped) this.connecting = this.connect();
    }, wait);
    return wait;
  }
}
