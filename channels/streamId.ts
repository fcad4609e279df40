/**
 * Stream entry ids: `<milliseconds>-<sequence>`, the format Redis Streams use, so both
 * transports hand consumers ids that compare the same way and read the same in logs.
 */

export interface StreamId {
  ms: number;
  seq: number;
}

const ID_PATTERN = /^(\d+)-(\d+)$/;

export function parseStreamId(id: string): StreamId {
  const m = ID_PATTERN.exec(id);
  if (!m) throw new Error(`'${id}' is not a stream id (expected <ms>-<seq>)`);
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

export function formatStreamId(id: StreamId): string {
  return `${id.ms}-${id.seq}`;
}

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareStreamIds(a: string, b: string): number {
  const x = parseStreamId(a);
  const y = parseStreamId(b);
  return x.ms - y.ms || x.seq - y.seq;
}

/** The smallest id greater than `id`: the first entry a trim up to and including `id` keeps. */
export function nextStreamId(id: string): string {
  const { ms, seq } = parseStreamId(id);
  return formatStreamId({ ms, seq: seq + 1 });
}

/**
 * Generates strictly increasing ids from the wall clock. When the clock stands still or
 * steps back (NTP, a VM resumed) the sequence part carries on from the last id, as XADD `*` does.
 */
export class MonotonicIds {
  private last: StreamId = { ms: 0, seq: 0 };

  next(now = Date.now()): string {
    if (now > this.last.ms) this.last = { ms: now, seq: 0 };
    else this.last = { ms: this.last.ms, seq: this.last.seq + 1 };
    return formatStreamId(this.last);
  }
}
