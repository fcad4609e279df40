/**
 * Declares, before any service instance starts, the consumer group of every service of the
 * node's topology on every channel its manifest consumes (Redis set `<prefix><channel>:groups`).
 * So a producer that runs before its consumer has ever started (or while the consumer's instance
 * is placed elsewhere and not up yet) keeps the entries for it instead of trimming them to the
 * high-water mark: it holds its publishes there, never deletes. Each instance declares its own
 * groups again at start (runtime/serviceMain.ts); this step covers consumers not started yet.
 *
 * Best effort and bounded: a module that does not load or a Redis that does not answer is logged
 * and the node starts all the same (the instance then reports the same fault itself).
 */
import { pathToFileURL } from 'node:url';
import { createRedisTransport } from '../channels/redis/redisTransport.js';
import { reasonOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { TopologyEntry, TopologyService } from '../runtime/topology.js';
import { validateManifest } from '../runtime/validateManifest.js';

/** How long the node waits for the declarations before it starts its services anyway. */
const DECLARE_TIMEOUT_MS = 5_000;

export interface DeclareOptions {
  redisUrl: string;
  keyPrefix: string;
  log: Logger;
}

/** channel → consumer groups (service names) that read it, from the topology's manifests. */
export async function consumersOf(entries: TopologyEntry[], log: Logger): Promise<Map<string, Set<string>>> {
  const byChannel = new Map<string, Set<string>>();
  const modules = new Map<string, TopologyService>();
  const walk = (list: TopologyEntry[]): void => list.forEach((e) => (e.kind === 'service' ? modules.set(e.module, e) : walk(e.entries)));
  walk(entries);
  for (const [module, service] of modules) {
    try {
      const mod = (await import(pathToFileURL(module).href)) as { service?: unknown; default?: unknown };
      const manifest = mod.service ?? mod.default;
      validateManifest(manifest);
      for (const channel of Object.keys(manifest.consumes ?? {})) {
        let groups = byChannel.get(channel);
        if (!groups) byChannel.set(channel, (groups = new Set()));
        groups.add(manifest.name);
      }
    } catch (err) {
      log.warn('could not read the manifest to declare its consumer groups; they are declared when the instance starts', { service: service.id, module, err: reasonOf(err) });
    }
  }
  return byChannel;
}

export async function declareTopologyConsumers(entries: TopologyEntry[], options: DeclareOptions): Promise<void> {
  const { log } = options;
  const work = async (): Promise<void> => {
    const byChannel = await consumersOf(entries, log);
    if (byChannel.size === 0) return;
    const transport = createRedisTransport({ url: options.redisUrl, keyPrefix: options.keyPrefix });
    try {
      for (const [channel, groups] of byChannel) await transport.declareGroups(channel, [...groups]);
      log.info('declared consumer groups', { channels: Object.fromEntries([...byChannel].map(([c, g]) => [c, [...g]])) });
    } finally {
      await transport.close();
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), DECLARE_TIMEOUT_MS)));
  try {
    const outcome = await Promise.race([work().then(() => 'done' as const), timeout]);
    if (outcome === 'timeout') log.warn(`declaring consumer groups took over ${DECLARE_TIMEOUT_MS} ms; starting the services, each declares its own groups`, {});
  } catch (err) {
    log.warn('could not declare consumer groups; starting the services, each declares its own groups', { err: reasonOf(err) });
  } finally {
    clearTimeout(timer);
  }
}
