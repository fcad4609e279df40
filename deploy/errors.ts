/**
 * Why a push is refused. The message is what the pusher reads (git shows it as `remote:` lines),
 * so it says what was wrong and what to do; `step` says where it stopped (checkout, install,
 * build, validate, archive, activate; fetch on a node building a release pushed elsewhere), for the release row and the summary line.
 */
export type DeployStep = 'refs' | 'database' | 'checkout' | 'install' | 'build' | 'validate' | 'archive' | 'activate' | 'fetch';

export class DeployError extends Error {
  override readonly name = 'DeployError';
  constructor(
    readonly step: DeployStep,
    message: string,
    /** Several findings (one bad service each), printed one per line; `message` joins them. */
    readonly findings: string[] = [],
  ) {
    super(message);
  }
}
