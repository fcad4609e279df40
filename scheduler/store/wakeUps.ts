/**
 * Wake-ups on the node: the `listener` child of `system` holds the LISTEN connection
 * (notifyListener.ts) and pokes the reconciler when this node's placements changed, the
 * scheduler loop when something the leader decides on changed, and the function-call runner
 * when a call was addressed to this node. The reconciler and the scheduler
 * put their poke into the WakeRef when they start and take it out when they stop, so a restarted
 * one is reached without restarting the listener.
 */
import type { Logger } from '../../core/log.js';
import { inProcessChild } from '../../supervisor/inProcessChild.js';
import type { ChildSpec } from '../../supervisor/types.js';
import { NotifyListener } from './notifyListener.js';

export const PLACEMENTS_CHANNEL = 'hydra_placements';
export const SCHEDULER_CHANNEL = 'hydra_scheduler';
export const CALLS_CHANNEL = 'hydra_calls';

export interface WakeRef {
  reconciler: (() => void) | null;
  scheduler: (() => void) | null;
  /** The function-call runner (scheduler/calls/callRunner.ts). */
  calls: (() => void) | null;
}

/** A loop a notification can hurry: the reconciler, the scheduler loop, the call runner. */
export interface Wakeable {
  start(): void;
  poke(): void;
  stop(): Promise<void>;
}

/**
 * A `system` child running `make()`'s loop, its poke put into `wake[slot]` while it runs (and
 * taken out when it stops, so a notification never reaches a stopped instance).
 */
export function wakeableChild(id: string, slot: keyof WakeRef, wake: WakeRef | undefined, make: () => Wakeable): ChildSpec {
  return inProcessChild({
    id,
    start: async () => {
      const loop = make();
      loop.start();
      const poke = () => loop.poke();
      if (wake) wake[slot] = poke;
      return {
        stop: async () => {
          if (wake?.[slot] === poke) wake[slot] = null;
          await loop.stop();
        },
      };
    },
  });
}

export interface ListenerOptions {
  nodeId: string;
  /** A direct PostgreSQL URL (not PgBouncer). */
  url: string;
  wake: WakeRef;
  log: Logger;
}

export function listenerChild(options: ListenerOptions & { id?: string }): ChildSpec {
  return inProcessChild({
    id: options.id ?? 'listener',
    start: async () => {
      const { wake, nodeId } = options;
      const listener = new NotifyListener({
        url: options.url,
        channels: [PLACEMENTS_CHANNEL, SCHEDULER_CHANNEL, CALLS_CHANNEL],
        applicationName: `hydra-listen ${nodeId}`.slice(0, 63),
        log: options.log,
        onNotify: (channel, payload) => {
          if (channel === PLACEMENTS_CHANNEL && (payload === null || payload === nodeId)) wake.reconciler?.();
          else if (channel === SCHEDULER_CHANNEL) wake.scheduler?.();
          else if (channel === CALLS_CHANNEL && (payload === null || payload === nodeId)) wake.calls?.();
        },
      });
      listener.start();
      return { stop: () => listener.stop() };
    },
  });
}
