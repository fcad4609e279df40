/**
 * Reading a request body under the runtime's limit (1 MiB). Over it, the request is answered
 * 413 here, once for every caller (routes and functions), and the rest of the upload is drained.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError } from './httpAnswer.js';

export const MAX_REQUEST_BYTES = 1024 * 1024;

/** How much of an oversized body is read and thrown away, and for how long, before the connection is cut. */
const DISCARD_MAX_BYTES = 16 * 1024 * 1024;
const DISCARD_MAX_MS = 5_000;

/** The body; or null once the request has been answered 413 (the caller stops there). */
export async function bodyWithinLimit(raw: IncomingMessage, res: ServerResponse): Promise<Buffer | null> {
  const body = await readBody(raw);
  if (body !== null) return body;
  discardRest(raw);
  sendError(res, 413, `request body is over the limit of ${MAX_REQUEST_BYTES} bytes`);
  return null;
}

/** The body, or null once it is over MAX_REQUEST_BYTES (checked on the header first, then as it streams). */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Reads and drops the rest of a refused body while the 413 goes out. Closing the connection at
 * once instead would reset it while the client is still sending, and a reset can destroy the
 * 413 in the client's receive buffer, so the client would see "connection reset" instead of the
 * reason (seen with the ingest fuzz test). A client that goes on past the limits is cut off.
 */
function discardRest(req: IncomingMessage): void {
  if (req.complete) return;
  let dropped = 0;
  const cut = () => req.socket.destroy();
  const timer = setTimeout(cut, DISCARD_MAX_MS).unref();
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_MAX_BYTES) cut();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
