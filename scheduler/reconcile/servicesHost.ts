/**
 * The small typed interface where the scheduler meets the supervisor (DESIGN.md "Layout"): the
 * reconciler asks a ServicesHost to start and stop service instances and to say what runs; the
 * node daemon implements it over its `services` supervisor (supervisor/node/servicesHost.ts).
 */
import type { ChildState } from '../../supervisor/types.js';

/** One placement the node should run, as the reconciler hands it over. */
export interface InstanceRequest {
  /** `<service>#<instance + 1>`: the child id and the instance's stable consumer name fleet-wide. */
  id: string;
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

/** An instance the host started for the reconciler, as it runs now. */
export interface HostedInstance {
  id: string;
  state: ChildState;
  pid: number | null;
  port: number | null;
  /** Restarts by its supervisor since the host started it. */
  restarts: number;
  /** Last health the instance reported; null before its first report. */
  healthy: boolean | null;
  /** Why it is not running well (last exit, health detail), for the placement's actual_detail. */
  detail: string | null;
  /** The request it was started from: a different request means stop and start again. */
  request: InstanceRequest;
}

export interface ServicesHost {
  /** False while the `services` supervisor is not running (starting, or restarting). */
  ready(): boolean;
  /** The instances started through this host that are still children of the supervisor. */
  instances(): HostedInstance[];
  /** Starts an instance; rejects with the reason when it fails to start (nothing is kept). */
  start(request: InstanceRequest): Promise<void>;
  /** Stops an instance gracefully and forgets it. */
  stop(id: string): Promise<void>;
}
