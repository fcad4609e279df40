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
