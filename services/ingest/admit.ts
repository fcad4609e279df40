/**
 * Who is sending, and which of their frames ingest takes: the bearer token names one device
 * (through the fleet file), and each frame must read as a frame (readHeader: size, framing,
 * format version) and come from that device. Ingest never decrypts; the header is in clear and
 * parse authenticates it with the site key.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { FrameError, readHeader, type FrameHeader } from '../packet/frame.js';
import type { Candidate } from './body.js';

export interface DeviceRef {
  site: number;
  device: number;
}

export interface AcceptedFrame {
  index: number;
  frame: Buffer;
  header: FrameHeader;
}

export interface RejectedFrame {
  index: number;
  reason: string;
  /** The counter it is reported under in /metrics (`rejected_framing`, …). */
  counter: string;
}

/** The token of `Authorization: Bearer <token>`, or why there is none. */
export function bearerToken(headers: IncomingHttpHeaders): { token: string } | { reason: string } {
  const value = headers.authorization;
  if (value === undefined || value.trim() === '') return { reason: 'missing Authorization header; expected Authorization: Bearer <device token>' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match) return { reason: 'malformed Authorization header; expected Authorization: Bearer <device token>' };
  return { token: match[1]! };
}

/** Splits a request's candidates into accepted frames and rejections by index, in order. */
export function admitFrames(candidates: Candidate[], from: DeviceRef): { accepted: AcceptedFrame[]; rejected: RejectedFrame[] } {
  const accepted: AcceptedFrame[] = [];
  const rejected: RejectedFrame[] = [];
  candidates.forEach((candidate, index) => {
    if (candidate instanceof FrameError) return void rejected.push({ index, reason: candidate.reason, counter: counterFor(candidate.reason) });
    let header: FrameHeader;
    try {
      header = readHeader(candidate);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      return void rejected.push({ index, reason: err.reason, counter: counterFor(err.reason) });
    }
    // A token opens one device's door only: a frame naming another device is either a
    // misconfigured unit or a stolen token, and parse could not tell them apart later.
    if (header.site !== from.site || header.device !== from.device) {
      return void rejected.push({ index, reason: `frame from site ${header.site} device ${header.device} does not match the token`, counter: 'rejected_device_mismatch' });
    }
    accepted.push({ index, frame: candidate, header });
  });
  return { accepted, rejected };
}

/** The counter of a frame rejection, from readHeader's reason (its wording is the packet module's contract). */
export function counterFor(reason: string): string {
  if (reason.startsWith('unknown format version')) return 'rejected_version';
  if (reason.startsWith('frame larger than')) return 'rejected_size';
  return 'rejected_framing';
}
