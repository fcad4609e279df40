/** The scheduler's error classes; each message says what was wrong and what to do about it. */

/** The database holds a schema version newer than this code knows: nothing was changed. */
export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `the database schema is at version ${databaseVersion}, newer than this code knows (version ${codeVersion}); ` +
        'nothing was changed: upgrade hydra on this machine before migrating',
    );
  }
}

/** One migration failed; it was rolled back, the ones before it stay applied. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly version: number,
    readonly file: string,
    reason: string,
  ) {
    super(`migration ${file} (version ${version}) failed and was rolled back: ${reason}`);
  }
}

/** A write carried a leader epoch that is no longer current: a deposed leader must not write. */
export class FencingError extends Error {
  override readonly name = 'FencingError';
  constructor(
    readonly lease: string,
    readonly holder: string,
    readonly epoch: number,
  ) {
    super(`lease '${lease}': ${holder} no longer holds epoch ${epoch} (taken over or expired); write refused`);
  }
}

/** Another live node already uses this id. */
export class NodeIdCollisionError extends Error {
  override readonly name = 'NodeIdCollisionError';
  constructor(
    readonly nodeId: string,
    readonly existingAddress: string,
    readonly heartbeatAgeMs: number,
  ) {
    super(
      `node id '${nodeId}' is already registered by a live node at ${existingAddress} ` +
        `(last heartbeat ${Math.round(heartbeatAgeMs)} ms ago); choose another HYDRA_NODE_ID`,
    );
  }
}

/** A heartbeat for a node that is not registered under this identity (re-register). */
export class NodeNotRegisteredError extends Error {
  override readonly name = 'NodeNotRegisteredError';
  constructor(readonly nodeId: string) {
    super(`node '${nodeId}' is not registered under this host key (never registered, or its id was taken over); register again`);
  }
}

/** A field of a service spec (or another scheduler input) is invalid; names the field and value. */
export class SpecInputError extends Error {
  override readonly name = 'SpecInputError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    expected: string,
  ) {
    super(`${field}: ${JSON.stringify(value) ?? String(value)} is invalid; expected ${expected}`);
  }
}

function known(what: string, names: string[]): string {
  if (names.length === 0) return `there are no ${what} yet`;
  const shown = names.slice(0, 10).join(', ');
  return `known ${what}: ${shown}${names.length > 10 ? ` …and ${names.length - 10} more` : ''}`;
}

/** No spec for this service name. */
export class UnknownServiceError extends Error {
  override readonly name = 'UnknownServiceError';
  constructor(
    readonly service: string,
    knownNames: string[],
  ) {
    super(`unknown service '${service}' (${known('services', knownNames)}); define it with 'hydra scheduler place ${service} …'`);
  }
}

/** No registered node with this id. */
export class UnknownNodeError extends Error {
  override readonly name = 'UnknownNodeError';
  constructor(
    readonly nodeId: string,
    knownIds: string[],
  ) {
    super(`unknown node '${nodeId}' (${known('nodes', knownIds)}); see 'hydra scheduler nodes'`);
  }
}

/** A deployment or rollback cannot be started or done; the message says why and what to do. */
export class DeploymentError extends Error {
  override readonly name = 'DeploymentError';
}
