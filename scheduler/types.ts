/**
 * The scheduler's records as the code sees them (camelCase, numbers as numbers), shared by the
 * store functions, the planner, the reconciler and the CLI. Rows are mapped to these in one place
 * per table (specs.ts, placements.ts); nothing else reads raw rows.
 */
export type { NodeRecord } from './registry.js';

/** One service's desired shape (table service_specs). */
export interface ServiceSpec {
  name: string;
  /** How many instances should run fleet-wide (0 = none). */
  instances: number;
  /** Label selector: a node runs the service only if every key has exactly this value. */
  constraints: Record<string, string>;
  /** Runs only on this node (and is never moved off it, even when it is down). */
  pinnedNode: string | null;
  /** Reserved per instance against the node's capacity.cpu. */
  cpu: number;
  /** Reserved per instance against the node's capacity.memoryMb. */
  memoryMb: number;
  /** Label key to spread instances across (e.g. "rack"); null = spread across nodes. */
  spread: string | null;
  /** The release it runs from; null = the node's own code. */
  releaseId: number | null;
  /** Module relative to the app root; null = the app catalog's entry of the same name. */
  module: string | null;
  /** Extra environment for every instance. */
  config: Record<string, string>;
  generation: number;
}

export type DesiredState = 'running' | 'stopped';
export type ActualState = 'pending' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** One instance of a service and where it should run (table placements). */
export interface Placement {
  id: number;
  service: string;
  /** 0-based, unique per service fleet-wide: instance i runs as child `<service>#<i+1>`. */
  instance: number;
  /** null = unplaceable (see `unplaceable`). */
  nodeId: string | null;
  desiredState: DesiredState;
  /** Release commit to run; null = the node's own code. */
  desiredVersion: string | null;
  /** Why it could not be placed; null when placed. */
  unplaceable: string | null;
  leaderEpoch: number;
  actualState: ActualState;
  actualVersion: string | null;
  actualDetail: string | null;
  actualPort: number | null;
  actualPid: number | null;
  actualHealthy: boolean | null;
  /** The node the actual_* fields were reported from. */
  actualNode: string | null;
  actualAt: Date | null;
  updatedAt: Date;
}
