/**
 * How the node reaches an instance's functions (functionsListener.ts): the environment naming the
 * instance's Unix socket and the node's secret, and the header the secret travels in. Kept apart
 * so the instance's start path and the node's caller share the names without loading node:http.
 */

/** The header carrying the node's functions secret; the functions listener refuses a call without it. */
export const SECRET_HEADER = 'x-hydra-node-secret';

/** Environment of an instance: where its functions listener listens, and the secret callers must show. */
export const FUNCTIONS_ENV = { socket: 'HYDRA_FUNCTIONS_SOCKET', secret: 'HYDRA_FUNCTIONS_SECRET' } as const;

/** Where a running instance's functions are called, as the node knows it. */
export interface FunctionsAddress {
  socket: string;
  secret: string;
}
