/**
 * The renderer's input from a node's nginx settings and what runs on it: the one place where
 * settings become an NginxInput, for the node's watcher and for `hydra nginx render` alike, so
 * the two can never render different configs for the same node.
 */
import { http2Style } from './applyNginx.js';
import type { NginxSettings } from './config.js';
import type { NginxInput, NginxService, Upstream } from './renderNginx.js';

export interface NodeServices {
  nodeId: string;
  admin: Upstream;
  services: NginxService[];
}

export async function nginxInput(settings: NginxSettings, node: NodeServices): Promise<NginxInput> {
  return {
    nodeId: node.nodeId,
    serverName: settings.serverName,
    httpsPort: settings.httpsPort,
    httpPort: settings.httpPort,
    ipv6: settings.ipv6,
    // Asked of the installed nginx: the `http2` parameter moved from `listen` to a directive in 1.25.1.
    http2: await http2Style(settings.nginxBin),
    certificate: settings.certificate,
    certificateKey: settings.certificateKey,
    admin: node.admin,
    adminAllow: settings.adminAllow,
    services: node.services,
  };
}
