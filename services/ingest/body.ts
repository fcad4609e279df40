/**
 * A request body to the frames it carries, by Content-Type (docs/packet-format.md, "Batches at
 * the ingest endpoint"): one frame, a length-prefixed batch, or JSON `{ frames: [base64…] }`.
 * Only a body that cannot be read as a whole is refused here (415, 400, 413); a single frame that
 * is bad (not base64, wrong size…) comes back as a FrameError in its place, so ingest rejects it
 * by index and still accepts its neighbours.
 */
import { FrameError, MAX_BATCH_FRAMES, splitBatch } from '../packet/frame.js';

export const CONTENT_TYPES = ['application/octet-stream', 'application/x-hydra-batch', 'application/json'] as const;

/** The request as a whole is refused: `status` and a reason for the client, `counter` for /metrics. */
export class BodyRefused extends Error {
  override readonly name = 'BodyRefused';
  constructor(
    readonly status: 400 | 413 | 415,
    readonly counter: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** Each entry is a frame to check, or why the entry at that index is not one. */
export type Candidate = Buffer | FrameError;

export function framesOf(contentType: string | undefined, body: Buffer): Candidate[] {
  // Parameters (`; charset=utf-8`) do not change what the body is.
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (type) {
    case 'application/octet-stream':
      if (body.length === 0) throw new BodyRefused(400, 'rejected_body', 'empty body; expected one frame');
      return [body];
    case 'application/x-hydra-batch':
      return batchFrames(body);
    case 'application/json':
      return jsonFrames(body);
    default:
      throw new BodyRefused(415, 'rejected_content_type', `${type === '' ? 'missing Content-Type' : `unsupported Content-Type '${type}'`}; expected one of ${CONTENT_TYPES.join(', ')}`);
  }
}

function batchFrames(body: Buffer): Candidate[] {
  try {
    return splitBatch(body);
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
    // splitBatch's reason for this one is part of the packet module's contract (frame.ts).
    if (err.reason.startsWith('batch has more than')) throw tooMany(err.reason);
    throw new BodyRefused(400, 'rejected_body', err.reason);
  }
}

function jsonFrames(body: Buffer): Candidate[] {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BodyRefused(400, 'rejected_body', `body is not valid JSON (${(err as Error).message})`);
  }
  const frames = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { frames?: unknown }).frames : undefined;
  if (!Array.isArray(frames)) throw new BodyRefused(400, 'rejected_body', 'body must be a JSON object { "frames": ["<base64>", …] }');
  if (frames.length === 0) throw new BodyRefused(400, 'rejected_body', 'frames is empty; expected at least one base64 frame');
  if (frames.length > MAX_BATCH_FRAMES) throw tooMany(`batch has more than ${MAX_BATCH_FRAMES} frames`);
  return frames.map((f: unknown) => {
    if (typeof f !== 'string') return new FrameError(`not a base64 string (got ${f === null ? 'null' : Array.isArray(f) ? 'an array' : typeof f})`);
    // Buffer.from(…, 'base64') skips characters it does not know; a frame with a stray byte
    // would then fail later as "length mismatch", which hides the real mistake.
    if (!BASE64.test(f)) return new FrameError('not valid base64 (standard alphabet, padded)');
    return Buffer.from(f, 'base64');
  });
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function tooMany(reason: string): BodyRefused {
  return new BodyRefused(413, 'rejected_too_large', `${reason}; split it into several requests`);
}
