/**
 * One run of the simulator: generates frames at a rate, sends them to ingest in per-device
 * batches with bounded concurrency, retries what got no answer (502/503/504, lost connection),
 * and hands what ingest acknowledged to the ledger. Frames of one device are never in flight
 * twice at a time, so the only reordering the node sees is the one asked for (`reorderRate`).
 */
import { backoff } from '../../core/backoff.js';
import { joinBatch } from '../packet/frame.js';
import { connectionReason, type IngestClient } from './ingestClient.js';
import type { BlastOutcome, SimFrame, Traffic, Unit } from './traffic.js';

export interface RunOptions {
  /** Base URL of ingest (or of nginx in front of it); frames go to `<url>/ingest/packets`. */
  url: string;
  /** Frames per second, at most (generation pauses while the node lags by `maxQueued` frames). */
  rate: number;
  durationMs: number;
  /** Blasts spread over the run; any still open at the end are finished before the run returns. Default 0. */
  blasts?: number;
  /** Outcomes for blasts 1, 2, 3…, cycled; default complete, fault, abort. */
  blastOutcomes?: BlastOutcome[];
  /** Requests in flight at most; default 8. */
  concurrency?: number;
  /** Frames per request at most; default 200. */
  maxBatch?: number;
  /** How long a device's first queued frame waits for company before its batch goes out; default 50 ms. */
  lingerMs?: number;
  maxQueued?: number;
  /** Accept a self-signed certificate. */
  insecure?: boolean;
  /** How long a request is retried on 502/503/504 or a lost connection; default 30 s. */
  retryForMs?: number;
  timeoutMs?: number;
  /** How long to wait after the duration for queued frames to go out; default 60 s. */
  drainTimeoutMs?: number;
  progressEveryMs?: number;
  onProgress?: (p: RunProgress) => void;
  /** Frames ingest accepted (for latency measurements: `sentAt` is set). */
  onAccepted?: (frames: SimFrame[], at: number) => void;
  /** Stops generating early; what is queued still goes out. */
  signal?: AbortSignal;
}

export interface RunProgress {
  elapsedMs: number;
  sent: number;
  accepted: number;
  rejected: number;
  queued: number;
  /** Accepted frames per second since the previous progress report. */
  rate: number;
}

export interface RunStats {
  /** Frames posted (each once, however often retried). */
  sent: number;
  accepted: number;
  rejected: number;
  /** Frames whose request never got an answer within `retryForMs`. */
  failed: number;
  /** Frames generated but never posted (the drain timed out). */
  unsent: number;
  requests: number;
  retries: number;
  elapsedMs: number;
  /** Accepted frames per second over the run. */
  rate: number;
  /** Rejection reasons (ingest's, or `HTTP <status>: …`) with frame counts. */
  reasons: Record<string, number>;
  blasts: number;
  lastFailure: string | null;
}

const DEFAULT_OUTCOMES: BlastOutcome[] = ['complete', 'fault', 'abort'];
const RETRY_STATUSES = new Set([502, 503, 504]);

/** What a run needs of its simulator. */
export interface RunTarget {
  traffic: Traffic;
  unit(frame: SimFrame): Unit;
  acknowledge(frames: SimFrame[]): void;
}

/** One run's queues, counters and loops. */
export class SendRun {
  private readonly queues = new Map<Unit, SimFrame[]>();
  private readonly busy = new Set<Unit>();
  private readonly stats: RunStats = { sent: 0, accepted: 0, rejected: 0, failed: 0, unsent: 0, requests: 0, retries: 0, elapsedMs: 0, rate: 0, reasons: {}, blasts: 0, lastFailure: null };
  private active = 0;
  private queued = 0;
  private turn = 0;
  private answered = false;
  private fatal: Error | null = null;
  private readonly concurrency: number;
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  /** When each device's oldest queued frame was queued. */
  private readonly oldest = new Map<Unit, number>();
  /** After the duration everything queued goes out at once. */
  private draining = false;

  constructor(
    private readonly sim: RunTarget,
    private readonly client: IngestClient,
    private readonly o: RunOptions,
  ) {
    this.concurrency = o.concurrency ?? 8;
    this.maxBatch = o.maxBatch ?? 200;
    this.lingerMs = o.lingerMs ?? 50;
  }

  async go(): Promise<RunStats> {
    const { o, sim } = this;
    const started = Date.now();
    const blasts = o.blasts ?? 0;
    const outcomes = o.blastOutcomes?.length ? o.blastOutcomes : DEFAULT_OUTCOMES;
    const maxQueued = o.maxQueued ?? Math.max(1000, o.rate * 2);
    const progressEvery = o.progressEveryMs ?? 1000;
    let nextBlast = 0;
    let credit = 0;
    let last = started;
    let progressAt = started;
    let progressAccepted = 0;
    const progress = (now: number): void => {
      if (!o.onProgress || now - progressAt < progressEvery) return;
      const rate = ((this.stats.accepted - progressAccepted) * 1000) / Math.max(1, now - progressAt);
      o.onProgress({ elapsedMs: now - started, sent: this.stats.sent, accepted: this.stats.accepted, rejected: this.stats.rejected, queued: this.queued, rate });
      progressAt = now;
      progressAccepted = this.stats.accepted;
    };
    const startBlast = (): void => {
      if (sim.traffic.startBlast(outcomes[nextBlast % outcomes.length]!)) this.stats.blasts += 1;
      nextBlast += 1;
    };

    while (!this.fatal && !o.signal?.aborted) {
      const now = Date.now();
      const elapsed = now - started;
      if (elapsed >= o.durationMs) break;
      while (nextBlast < blasts && elapsed >= (o.durationMs * (nextBlast + 1)) / (blasts + 1)) startBlast();
      // Credit accrues with time; while the node lags it is dropped, so a slow node is not
      // flooded with the backlog afterwards (the rate is a ceiling).
      credit += (o.rate * (now - last)) / 1000;
      last = now;
      if (this.queued >= maxQueued) credit = 0;
      while (credit >= 1 && this.queued < maxQueued) credit -= this.enqueue(sim.traffic.step());
      this.pump();
      progress(now);
      await sleep(10);
    }
    while (nextBlast < blasts && !this.fatal && !o.signal?.aborted) startBlast();
    this.enqueue(sim.traffic.finishBlasts());
    this.draining = true;
    const drainUntil = Date.now() + (o.drainTimeoutMs ?? 60_000);
    while (!this.fatal && this.queued > 0 && Date.now() < drainUntil) {
      this.pump();
      progress(Date.now());
      await sleep(5);
    }
    while (this.active > 0) await sleep(5);
    this.stats.unsent = this.queued;
    this.stats.elapsedMs = Date.now() - started;
    this.stats.rate = (this.stats.accepted * 1000) / Math.max(1, this.stats.elapsedMs);
    if (this.fatal) throw this.fatal;
    return this.stats;
  }

  private enqueue(frames: SimFrame[]): number {
    for (const f of frames) {
      const unit = this.sim.unit(f);
      let q = this.queues.get(unit);
      if (!q) this.queues.set(unit, (q = []));
      if (q.length === 0) this.oldest.set(unit, Date.now());
      q.push(f);
    }
    this.queued += frames.length;
    return frames.length;
  }

  /** Starts requests for idle devices whose batch is full or has lingered, in turn, up to the concurrency. */
  private pump(): void {
    const units = [...this.queues.keys()];
    const now = Date.now();
    for (let i = 0; i < units.length && this.active < this.concurrency && !this.fatal; i++) {
      const unit = units[(this.turn + i) % units.length]!;
      const q = this.queues.get(unit)!;
      if (q.length === 0 || this.busy.has(unit)) continue;
      if (!this.draining && q.length < this.maxBatch && now - this.oldest.get(unit)! < this.lingerMs) continue;
      const batch = q.splice(0, this.maxBatch);
      if (q.length > 0) this.oldest.set(unit, now);
      this.queued -= batch.length;
      this.active += 1;
      this.busy.add(unit);
      void this.send(unit, batch).finally(() => {
        this.active -= 1;
        this.busy.delete(unit);
        this.pump();
      });
    }
    this.turn += 1;
  }

  private async send(unit: Unit, frames: SimFrame[]): Promise<void> {
    const body = joinBatch(frames.map((f) => f.bytes));
    const firstAt = Date.now();
    for (const f of frames) f.sentAt = firstAt;
    this.stats.sent += frames.length;
    this.stats.requests += 1;
    for (let attempt = 0; ; attempt++) {
      let reason: string;
      let waitMs = backoff(attempt, { baseMs: 100, maxMs: 2_000 });
      try {
        const answer = await this.client.post(unit.token, body);
        this.answered = true;
        if (!RETRY_STATUSES.has(answer.status)) return this.settle(frames, answer.status, answer.text);
        reason = `HTTP ${answer.status}`;
        if (answer.retryAfter !== null) waitMs = Math.min(answer.retryAfter * 1000, 5000);
      } catch (err) {
        reason = connectionReason(err);
        // Nothing answered yet: the URL is wrong or the node is down; say so rather than retry for long.
        if (!this.answered) {
          this.fatal ??= new Error(`cannot reach ${this.client.endpoint.href}: ${reason}`);
          this.stats.failed += frames.length;
          return;
        }
      }
      if (this.fatal || Date.now() - firstAt + waitMs > (this.o.retryForMs ?? 30_000)) {
        this.stats.failed += frames.length;
        this.stats.lastFailure = reason;
        return;
      }
      this.stats.retries += 1;
      await sleep(waitMs);
    }
  }

  /** Counts an answered request: 202 acknowledges every frame not listed in `rejected`. */
  private settle(frames: SimFrame[], status: number, text: string): void {
    let body: { rejected?: Array<{ index?: unknown; reason?: unknown }>; error?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // a 202 is an acknowledgement whatever its body; another status is explained by its text
    }
    const rejected = new Map<number, string>();
    if (status === 202) {
      for (const r of Array.isArray(body.rejected) ? body.rejected : []) if (typeof r.index === 'number') rejected.set(r.index, String(r.reason ?? 'rejected'));
    } else {
      const why = `HTTP ${status}: ${typeof body.error === 'string' ? body.error : text.slice(0, 200).trim()}`;
      frames.forEach((_, i) => rejected.set(i, why));
    }
    const accepted = frames.filter((_, i) => !rejected.has(i));
    for (const why of rejected.values()) this.stats.reasons[why] = (this.stats.reasons[why] ?? 0) + 1;
    this.stats.rejected += rejected.size;
    this.stats.accepted += accepted.length;
    this.sim.acknowledge(accepted);
    if (accepted.length > 0) this.o.onAccepted?.(accepted, Date.now());
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
