/**
 * The packet module's error classes. A FrameError's message is the reason a client or an
 * operator sees (ingest's `rejected[].reason`, parse's dead-letter reason), so it is short and
 * names the bad value; a FleetError names the fleet file and the field.
 */

/** A frame (or batch) that cannot be read, authenticated or decoded. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A fleet file that is missing, unreadable or invalid: `fleet file <path>: sites[1].key: …`. */
export class FleetError extends Error {
  override readonly name = 'FleetError';
  constructor(
    readonly file: string | null,
    readonly field: string | null,
    problem: string,
  ) {
    super(`${file === null ? '' : `fleet file ${file}: `}${field === null ? '' : `${field}: `}${problem}`);
  }
}
