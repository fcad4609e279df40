/**
 * The front door of the reference pipeline: `POST /ingest/packets` takes frames from field
 * devices (one frame, a length-prefixed batch, or JSON with base64 frames; body.ts), checks who
 * sends them and that they read as frames (admit.ts), and publishes each accepted one as
 * `packet.raw@1` on packets.raw, keyed `<site>:<device>`.
 *
 * Answer: 202 `{ accepted, rejected: [{ index, reason }] }` only once every accepted frame is in
 * Redis (an emit outside `handle` resolves when the channel has it), so a 202 means nothing of it
 * can be lost. A request refused as a whole gets `{ error }`: 401 (token), 415 (content type),
 * 400 (unreadable body), 413 (over 1 MiB, which the runtime answers, or over 1000 frames), 503
 * (publishing failed or timed out; the device retries, and a frame published before the failure
 * arrives twice, which state resolves by sequence). Each refusal is counted for /metrics.
 */
import { defineService, type HttpRequest, type HttpResponse, type ServiceContext } from '../../runtime/sdk.js';
import { CHANNELS, type PacketRawV1 } from '../messages.js';
import { FleetWatcher } from '../packet/fleet.js';
import { admitFrames, bearerToken, type AcceptedFrame, type DeviceRef } from './admit.js';
import { BodyRefused, framesOf } from './body.js';
import { readIngestConfig } from './config.js';
import { FramePublisher } from './publish.js';

/** One instance's state, made by init. */
interface IngestInstance {
  fleet: FleetWatcher;
  /** Consulted only when `fleet` does not know a token: a device just added to the file is not refused for up to a second. */
  freshFleet: FleetWatcher;
  publisher: FramePublisher<{ body: PacketRawV1; key: string }>;
  /** True while publishes fail, so an outage is logged once at warn, not once per request. */
  failing: boolean;
}

const COUNTERS = ['accepted', 'rejected_auth', 'rejected_content_type', 'rejected_body', 'rejected_too_large', 'rejected_framing', 'rejected_size', 'rejected_version', 'rejected_device_mismatch', 'publish_failures'];

function count(ctx: ServiceContext, name: string, by = 1): void {
  ctx.counters[name] = (ctx.counters[name] ?? 0) + by;
}

function refuse(ctx: ServiceContext, status: number, counter: string, reason: string, headers?: Record<string, string>): HttpResponse {
  count(ctx, counter);
  return { status, body: { error: reason }, ...(headers ? { headers } : {}) };
}

function deviceOf(ingest: IngestInstance, token: string): DeviceRef | undefined {
  return ingest.fleet.deviceByToken(token) ?? ingest.freshFleet.deviceByToken(token);
}

async function postPackets(req: HttpRequest, ctx: ServiceContext, ingest: IngestInstance): Promise<HttpResponse> {
  const receivedAt = Date.now();
  // Authentication first: an unknown caller learns nothing about what else is wrong with its body.
  const auth = bearerToken(req.headers);
  if ('reason' in auth) return refuse(ctx, 401, 'rejected_auth', auth.reason, { 'www-authenticate': 'Bearer realm="hydra-ingest"' });
  const from = deviceOf(ingest, auth.token);
  if (!from) return refuse(ctx, 401, 'rejected_auth', 'unknown device token', { 'www-authenticate': 'Bearer realm="hydra-ingest", error="invalid_token"' });

  let candidates;
  try {
    candidates = framesOf(req.headers['content-type'], req.body);
  } catch (err) {
    if (!(err instanceof BodyRefused)) throw err;
    return refuse(ctx, err.status, err.counter, err.message);
  }
  const { accepted, rejected } = admitFrames(candidates, from);
  for (const r of rejected) count(ctx, r.counter);

  try {
    await ingest.publisher.publishAll(accepted.map((a) => rawMessage(a, receivedAt)));
  } catch (err) {
    const reason = (err as Error).message ?? String(err);
    (ingest.failing ? ctx.log.debug : ctx.log.warn)('publishing to packets.raw failed; answering 503', { frames: accepted.length, err: reason });
    ingest.failing = true;
    return refuse(ctx, 503, 'publish_failures', `could not publish to ${CHANNELS.raw}: ${reason}; no frame of this request is acknowledged, send it again`, { 'retry-after': '1' });
  }
  if (ingest.failing && accepted.length > 0) {
    ctx.log.info('publishing to packets.raw resumed');
    ingest.failing = false;
  }
  count(ctx, 'accepted', accepted.length);
  return { status: 202, body: { accepted: accepted.length, rejected: rejected.map(({ index, reason }) => ({ index, reason })) } };
}

function rawMessage(a: AcceptedFrame, receivedAt: number): { body: PacketRawV1; key: string } {
  const { site, device, seq } = a.header;
  return { body: { frame: a.frame.toString('base64'), site, device, seq, receivedAt }, key: `${site}:${device}` };
}

export default defineService({
  name: 'ingest',
  version: '1.0.0',
  produces: { [CHANNELS.raw]: ['packet.raw@1'] },

  init(ctx): IngestInstance {
    const config = readIngestConfig();
    const publisher = new FramePublisher<{ body: PacketRawV1; key: string }>((m) => ctx.emit(CHANNELS.raw, 'packet.raw@1', m.body, m.key), config.publishTimeoutMs);
    const fleet = new FleetWatcher(config.fleetFile);
    const freshFleet = new FleetWatcher(config.fleetFile, { checkEveryMs: 0 });
    // Load now: a missing or invalid fleet file fails the start with its reason, not the first request.
    const sites = fleet.current().sites;
    freshFleet.current();
    for (const name of COUNTERS) ctx.counters[name] = 0;
    ctx.log.info('fleet loaded', { file: config.fleetFile, sites: sites.length, devices: sites.reduce((n, s) => n + s.devices.length, 0) });
    return { fleet, freshFleet, publisher, failing: false };
  },

  http: [{ method: 'POST', path: '/packets', auth: 'device', handler: postPackets }],

  health({ fleet }) {
    // Still healthy: the last good fleet keeps serving; the detail tells the operator to fix the file.
    const error = fleet.lastError;
    return error ? { healthy: true, detail: `fleet file reload failed, using the previous one: ${error.message}` } : { healthy: true };
  },
});
