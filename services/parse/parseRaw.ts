/**
 * One `packet.raw@1` entry to its `packet.parsed@1` body, or the reason it can never be parsed.
 * Pure (the site key comes from a lookup), so every refusal is a value: parse dead-letters it
 * instead of throwing, since a retry would fail the same way `maxDeliveries` times.
 */
import type { Envelope } from '../../channels/index.js';
import type { PacketParsedV1, PacketRawV1 } from '../messages.js';
import { decodeFrame, FrameError, readHeader } from '../packet/frame.js';

export type ParseOutcome = { parsed: PacketParsedV1; key: string } | { reason: string; counter: string };

export function parseRaw(message: Envelope, siteKey: (site: number) => string | undefined): ParseOutcome {
  const body = message.body as Partial<PacketRawV1> | null;
  if (body === null || typeof body !== 'object' || typeof body.frame !== 'string') {
    return { reason: 'malformed packet.raw@1 body: frame must be a base64 string', counter: 'dead_bad_body' };
  }
  const frame = Buffer.from(body.frame, 'base64');
  try {
    // The header (authenticated below as the cipher's additional data) names the site, not the
    // body's copy of it: a body edited on the way cannot pick another site's key.
    const { site } = readHeader(frame);
    const key = siteKey(site);
    if (key === undefined) return { reason: `unknown site ${site}`, counter: 'dead_unknown_site' };
    const { header, blastId, items } = decodeFrame(frame, key);
    return {
      parsed: { site: header.site, device: header.device, seq: header.seq, deviceTs: header.deviceTs, frameType: header.type, blastId, items, rawId: message.id },
      key: `${header.site}:${header.device}`,
    };
  } catch (err) {
    if (!(err instanceof FrameError)) throw err;
    return { reason: err.reason, counter: counterFor(err.reason) };
  }
}

/** The counter of a refusal, from the packet module's reason (its wording is that module's contract). */
function counterFor(reason: string): string {
  if (reason.startsWith('authentication failed')) return 'dead_auth';
  if (reason.startsWith('unknown format version')) return 'dead_version';
  return 'dead_malformed';
}
