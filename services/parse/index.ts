/**
 * The decoder of the reference pipeline: reads `packet.raw@1` from packets.raw, authenticates
 * and decrypts each frame with its site's key (AES-256-GCM, the header as additional data) and
 * emits the decoded frame as `packet.parsed@1` on packets.parsed, keyed `<site>:<device>`, with
 * `rawId` = the packets.raw entry id (state's idempotency key).
 *
 * A frame that can never be parsed (unknown site, failed authentication: wrong key or tampered,
 * malformed payload, unknown format version) goes to packets.raw's dead-letter stream with the
 * reason and is counted (`dead_<class>`); the rest of the batch goes on. Only unexpected errors
 * throw, so the runtime retries them and dead-letters them after `maxDeliveries`.
 */
import type { Envelope } from '../../channels/index.js';
import { defineService, type ServiceContext } from '../../runtime/sdk.js';
import { CHANNELS } from '../messages.js';
import { FleetWatcher } from '../packet/fleet.js';
import { readParseConfig } from './config.js';
import { parseRaw } from './parseRaw.js';

/** One instance's state, made by init. */
interface ParseInstance {
  fleet: FleetWatcher;
  /** A site's key: from `fleet`, else from a fresh read of the file (see init). */
  siteKey: (site: number) => string | undefined;
}

const COUNTERS = ['parsed', 'items', 'dead_unknown_site', 'dead_auth', 'dead_malformed', 'dead_version', 'dead_bad_body'];

function count(ctx: ServiceContext, name: string, by = 1): void {
  ctx.counters[name] = (ctx.counters[name] ?? 0) + by;
}

export default defineService({
  name: 'parse',
  version: '1.0.0',
  consumes: { [CHANNELS.raw]: ['packet.raw@1'] },
  produces: { [CHANNELS.parsed]: ['packet.parsed@1'] },
  batchSize: 200,

  init(ctx) {
    const { fleetFile } = readParseConfig();
    const fleet = new FleetWatcher(fleetFile);
    /**
     * Asked only when `fleet` does not know a site: ingest may already take frames of a site just
     * added to the file while `fleet` still holds the previous one (it looks at most once a second),
     * and those frames must not be dead-lettered as "unknown site".
     */
    const freshFleet = new FleetWatcher(fleetFile, { checkEveryMs: 0 });
    // Load now: a missing or invalid fleet file fails the start with its reason.
    const sites = fleet.current().sites.length;
    freshFleet.current();
    for (const name of COUNTERS) ctx.counters[name] = 0;
    ctx.log.info('fleet loaded', { file: fleetFile, sites });
    return { fleet, siteKey: (site) => fleet.siteKey(site) ?? freshFleet.siteKey(site) } satisfies ParseInstance;
  },

  async handle(batch: Envelope[], ctx, { siteKey }) {
    for (const m of batch) {
      const outcome = parseRaw(m, siteKey);
      if ('reason' in outcome) {
        count(ctx, outcome.counter);
        ctx.log.debug('frame dead-lettered', { id: m.id, key: m.key, reason: outcome.reason });
        ctx.deadLetter(m, outcome.reason);
        continue;
      }
      // Buffered by the runtime and published after handle resolves, before the batch is acked.
      await ctx.emit(CHANNELS.parsed, 'packet.parsed@1', outcome.parsed, outcome.key);
      count(ctx, 'parsed');
      count(ctx, 'items', outcome.parsed.items.length);
    }
  },

  health({ fleet }) {
    // Still healthy: the last good fleet keeps serving; the detail tells the operator to fix the file.
    const error = fleet.lastError;
    return error ? { healthy: true, detail: `fleet file reload failed, using the previous one: ${error.message}` } : { healthy: true };
  },
});
