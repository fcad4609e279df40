/**
 * The instance's private listener for `/_hydra/functions` (functionCalls.ts): a Unix socket the
 * node chose (its directory is the node's own, mode 0700), and on it every request must carry the
 * node's secret in `x-hydra-node-secret`. The public port that nginx proxies never serves
 * functions, so neither a crafted path nor a client-sent `x-hydra-role` reaches them from outside;
 * the secret keeps other local users out even if they can reach the socket.
 */
import { timingSafeEqual } from 'node:crypto';
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { reasonOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { FUNCTIONS_PATH, serveFunctions } from './functionCalls.js';
import { SECRET_HEADER } from './functionsAccess.js';
import { errorAnswer, sendError } from './httpAnswer.js';
import { refusedTarget } from './requestTarget.js';
import type { ServiceContext, ServiceManifest } from './serviceTypes.js';

export interface FunctionsListenerOptions {
  manifest: ServiceManifest;
  ctx: ServiceContext;
  state: unknown;
  log: Logger;
  /** What callers must send in `x-hydra-node-secret`. */
  secret: string;
}

export function createFunctionsServer(options: FunctionsListenerOptions): Server {
  const expected = Buffer.from(options.secret, 'utf8');
  return createServer((raw, res) => {
    const serve = async (): Promise<void> => {
      const refused = refusedTarget(raw.url);
      if (refused !== null) return sendError(res, 400, refused);
      const shown = raw.headers[SECRET_HEADER];
      const given = Buffer.from(typeof shown === 'string' ? shown : '', 'utf8');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return sendError(res, 403, `a function call must carry this node's secret in ${SECRET_HEADER}`);
      const pathname = new URL(raw.url ?? '/', 'http://service.invalid').pathname;
      if (pathname !== FUNCTIONS_PATH && !pathname.startsWith(`${FUNCTIONS_PATH}/`)) return sendError(res, 404, `this listener serves ${FUNCTIONS_PATH} only, not ${pathname}`);
      return serveFunctions(raw, res, options.manifest.functions ?? {}, options.ctx, options.state, pathname.slice(FUNCTIONS_PATH.length + 1));
    };
    serve().catch((err: unknown) => {
      const { status, reason } = errorAnswer(err);
      if (status >= 500) options.log.error('function call failed', { method: raw.method, url: raw.url, err: reasonOf(err) });
      if (res.headersSent) return void res.destroy();
      sendError(res, status, reason);
    });
  });
}

/** Listens on the Unix socket `socket`, replacing a socket file a previous instance left behind. */
export function listenOnSocket(server: Server, socket: string): Promise<void> {
  try {
    if (lstatSync(socket).isSocket()) unlinkSync(socket);
  } catch {
    // Nothing there: the usual case.
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
