/**
 * The service runtime's configuration, read from the environment once at start. A missing or
 * malformed variable is a ConfigError naming it and saying what is expected.
 */
import { CHILD_ID_RULE, isChildId } from '../core/ids.js';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_REDIS_URL } from '../channels/redis/redisTransport.js';
import { ConfigError } from '../core/errors.js';
import { ENV } from '../supervisor/ipc.js';
import { FUNCTIONS_ENV } from './functionsAccess.js';

export interface ServiceConfig {
  /** Absolute path of the service module. */
  module: string;
  /** The supervised child id: the instance name in logs and the stable consumer name. */
  childId: string;
  /** 0: no HTTP unless the manifest has routes, then an ephemeral port. */
  port: number;
  redisUrl: string;
  keyPrefix: string;
  nodeId: string;
  /**
   * HYDRA_CHANNEL_HIGH_WATER_MARK: the backlog at which the instance's publishes wait (default
   * 10 000). It also bounds what a channel keeps for a declared consumer that has not started.
   */
  highWaterMark: number;
  /** Where `/_hydra/functions` listens and the secret its callers show; null: the node calls no functions here. */
  functions: { socket: string; secret: string } | null;
}

/** Same rule as a consumer name (channels/consumer.ts), since that is what the id becomes. */

export function readServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const moduleVar = env.HYDRA_SERVICE_MODULE;
  if (!moduleVar) throw new ConfigError('HYDRA_SERVICE_MODULE', 'is not set; expected the path of the service module to run');
  const module = isAbsolute(moduleVar) ? moduleVar : resolve(moduleVar);
  if (!existsSync(module)) throw new ConfigError('HYDRA_SERVICE_MODULE', `'${module}' does not exist; expected the path of the service module to run`);

  const childId = env[ENV.childId];
  if (!isChildId(childId)) {
    throw new ConfigError(ENV.childId, `${JSON.stringify(childId ?? null)} is not a child id; expected ${CHILD_ID_RULE} (e.g. parse#1)`);
  }

  const portVar = env[ENV.port] ?? '';
  const port = portVar === '' ? 0 : Number(portVar);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(ENV.port, `'${portVar}' is not a port; expected an integer from 0 to 65535`);

  const redisUrl = env.REDIS_URL || DEFAULT_REDIS_URL;
  if (!/^rediss?:\/\/[^\s]+$/.test(redisUrl)) throw new ConfigError('REDIS_URL', `'${redisUrl}' is not a Redis URL; expected redis://[:password@]host:port[/db]`);

  const hwmVar = env.HYDRA_CHANNEL_HIGH_WATER_MARK ?? '';
  const highWaterMark = hwmVar === '' ? 10_000 : Number(hwmVar);
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) throw new ConfigError('HYDRA_CHANNEL_HIGH_WATER_MARK', `'${hwmVar}' is not a high-water mark; expected a whole number of entries, at least 1`);
  const socket = env[FUNCTIONS_ENV.socket] ?? '';
  const secret = env[FUNCTIONS_ENV.secret] ?? '';
  if ((socket === '') !== (secret === '')) throw new ConfigError(socket === '' ? FUNCTIONS_ENV.socket : FUNCTIONS_ENV.secret, `is not set while ${socket === '' ? FUNCTIONS_ENV.secret : FUNCTIONS_ENV.socket} is; the node sets both or neither`);
  if (socket !== '' && !isAbsolute(socket)) throw new ConfigError(FUNCTIONS_ENV.socket, `'${socket}' is not an absolute path; expected the Unix socket path the node chose`);
  if (secret !== '' && secret.length < 32) throw new ConfigError(FUNCTIONS_ENV.secret, `is ${secret.length} characters; expected at least 32 (the node makes a random one)`);

  return {
    module,
    childId,
    port,
    redisUrl,
    keyPrefix: env.HYDRA_KEY_PREFIX ?? 'hydra:',
    nodeId: env.HYDRA_NODE_ID || hostname(),
    highWaterMark,
    functions: socket === '' ? null : { socket, secret },
  };
}
