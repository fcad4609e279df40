/**
 * The small typed interface where the scheduler meets the supervisor (docs/architecture.md "Layers"): the
 * reconciler asks a ServicesHost to start and stop service instances and to say what runs; the
 * node daemon implements it over its `services` supervisor (node/servicesHost.ts).
 */
import type { ChildState } from '../../supervisor/types.js';

/** One placement the node should run, as the reconciler hands it over. */
export interface InstanceRequest {
  /** The placement's slot, `<service>#<instance + 1>`, unique fleet-wide. */
  slot: string;
  service: string;
  /** Release commit; null = the node's own code. */
  version: string | null;
  /** The release's app root (null: the node's own). */
  releasePath: string | null;
  /** Module relative to the app root; null = the app catalog's entry named `service`. */
  module: string | null;
  /** Extra environment from the spec. */
  config: Record<string, string>;
}

/**
 * The child id of a request: the slot, plus `@<release>` when it runs from a release. It is the
 * instance's consumer name too, so it is stable across restarts and moves (a rescheduled
 * instance re-reads what it left pending), and two versions of one slot can run side by side
 * during a hot swap under different names in the same consumer group.
 */
export function childIdOf(request: Pick<InstanceRequest, 'slot' | 'version'>): string {
  return request.version === null ? request.slot : `${request.slot}@${request.version.slice(0, 12)}`;
}

/** An instance the host started for the reconciler, as it runs now. */
export interface HostedInstance {
  /** The child id (see childIdOf). */
  id: string;
  state: ChildState;
  pid: number | null;
  port: number | null;
  /** Restarts by its supervisor since the host started it. */
  restarts: number;
  /** Last health the instance reported; null before its first report. */
  healthy: boolean | null;
  /** The runtime's counters from its last report (handled, failed, deadLettered…). */
  counters: Record<string, number>;
  /** Why it is not running well (last exit, health detail), for the placement's actual_detail. */
  detail: string | null;
  /** The request it was started from: a different request means stop and start again. */
  request: InstanceRequest;
}

/**
 * What start() rejects with while the request's release is still being built on this node (it
 * was pushed to another one): not a failure, the reconciler keeps what runs and asks again.
 */
export class ReleasePreparing extends Error {
  override readonly name = 'ReleasePreparing';
}

export interface ServicesHost {
  /** False while the `services` supervisor is not running (starting, or restarting). */
  ready(): boolean;
  /** The instances started through this host that are still children of the supervisor. */
  instances(): HostedInstance[];
  /**
   * Starts an instance as child childIdOf(request); rejects with the reason when it fails to start
   * (nothing is kept), or with ReleasePreparing while its release is not on this node yet.
   */
  start(request: InstanceRequest): Promise<void>;
  /** Stops an instance gracefully (it stops fetching, finishes and acks its batch) and forgets it. */
  stop(id: string): Promise<void>;
}

/**
 * Called during a hot swap once the new instance is ready and before the old one is told to
 * stop: the place where HTTP traffic is switched to the new instance's port (nginx re-render
 * and reload). Resolves when the switch is done.
 */
export type BeforeRetire = (service: string, retiring: HostedInstance[], successor: HostedInstance) => Promise<void>;
