/**
 * The node's admin server as a child of `system`, wired to the node: its routes read the root
 * supervisor and act through it, `POST /admin/stop` asks the node to stop, and each bind writes
 * the URL to run/node.json (where the CLI finds the node).
 */
import type { Logger } from '../core/log.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { ChildSpec } from '../supervisor/types.js';
import { adminHttpChild } from './adminHttp.js';
import { adminHandler } from './adminRoutes.js';
import type { NodeConfig } from './config.js';
import { writeNodeFile } from './pidFile.js';

export interface NodeAdminOptions {
  config: NodeConfig;
  version: string;
  /** Epoch ms the daemon started. */
  startedAt: number;
  log: Logger;
  root: () => Supervisor;
  /** The URL the admin server listens on; '' until the first bind. */
  url: { current: string };
  requestStop: (why: string) => void;
}

/** Path of the admin server's child in the node's tree. */
export const ADMIN_PATH = 'system/admin-http';

export function nodeAdminChild(o: NodeAdminOptions): ChildSpec {
  const { config } = o;
  return adminHttpChild({
    id: 'admin-http',
    host: config.adminHost,
    port: config.adminPort,
    handler: adminHandler({
      nodeId: config.nodeId,
      version: o.version,
      startedAt: o.startedAt,
      adminUrl: () => o.url.current,
      adminPath: ADMIN_PATH,
      root: o.root,
      stop: () => o.requestStop('POST /admin/stop'),
    }),
    onListening: (url) => {
      o.url.current = url;
      writeNodeFile(config.home, { pid: process.pid, adminUrl: url, nodeId: config.nodeId, startedAt: new Date(o.startedAt).toISOString() });
      o.log.info('admin listening', { url });
    },
  });
}
