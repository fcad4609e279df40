/**
 * The node's nginx watcher: an in-process child of `system` that keeps nginx's config equal to
 * what runs on the node. Every interval it reads the tree, renders, and applies only when the
 * text changed (nginx -t first; a rejected render is never loaded and is not retried until the
 * render changes again). A reload that failed is retried with a backoff. It never throws out of
 * its loop: problems are logged and show in its status (unhealthy, with the reason).
 *
 * During a hot swap the reconciler calls `switchTraffic` once the new instance is ready: the old
 * instances are left out of the upstream and nginx reloaded before they are told to drain.
 */
import { backoff } from '../core/backoff.js';
import type { Logger } from '../core/log.js';
import { inProcessChild } from '../supervisor/inProcessChild.js';
import type { ChildInfo, ChildSpec, ChildStatus } from '../supervisor/types.js';
import { applyNginx, reloadNginx, type ApplyResult } from '../nginx/applyNginx.js';
import { applyViaHelper } from '../nginx/applyViaHelper.js';
import { routesText, type NginxRoutes } from '../nginx/routesData.js';
import { nginxInput } from '../nginx/nginxInput.js';
import type { NginxSettings } from '../nginx/config.js';
import { renderNginx, type Upstream } from '../nginx/renderNginx.js';
import { servicesSubtree, treeServices, type LastSeen } from './treeServices.js';

export interface NginxWatcherOptions {
  settings: NginxSettings;
  nodeId: string;
  /** The node's root as a tree (root.info()). */
  tree: () => ChildInfo;
  /** The admin server's address once it listens; null before. */
  admin: () => Upstream | null;
  /** Host the service instances listen on. */
  serviceHost: string;
  log: Logger;
  /** The running watcher, for the reconciler's traffic switch (set while the child runs). */
  ref?: { current: NginxWatcher | null };
}

const RELOAD_BACKOFF_MIN_MS = 1_000;
const RELOAD_BACKOFF_MAX_MS = 30_000;

export class NginxWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly lastSeen: LastSeen = new Map();
  private readonly retiring = new Set<string>();
  /** The last render nginx refused. */
  private rejectedText: string | null = null;
  private lastProblem: string | null = null;
  private reloadPending = false;
  /** Failed reloads in a row, for the backoff. */
  private reloadFailures = 0;
  private nextReloadAt = 0;
  private servicesSeenRunning = false;
  /** Helper mode: the routes the helper last put in place (it is called only when they change). */
  private appliedRoutes: string | null = null;
  readonly counters = { renders: 0, applied: 0, rejected: 0, reloadFailures: 0 };

  constructor(private readonly options: NginxWatcherOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  status(): ChildStatus {
    return { healthy: this.lastProblem === null, ...(this.lastProblem ? { detail: this.lastProblem } : {}), counters: { ...this.counters } };
  }

  /** Leaves these child paths (`services/ingest@abc#1`) out and applies now; resolves once nginx reloaded. */
  async switchTraffic(paths: string[]): Promise<void> {
    for (const p of paths) this.retiring.add(p);
    await this.enqueue();
    if (this.lastProblem) throw new Error(this.lastProblem);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.enqueue().finally(() => this.schedule(this.options.settings.intervalMs)), ms);
  }

  /** One tick at a time: the interval and a traffic switch never apply concurrently. */
  private enqueue(): Promise<void> {
    this.running = this.running.then(() => this.tick()).catch((err: unknown) => this.problem(`nginx watcher tick failed: ${err instanceof Error ? err.message : String(err)}`));
    return this.running;
  }

  private problem(message: string, fields: Record<string, unknown> = {}): void {
    if (message !== this.lastProblem) this.options.log.error(message, fields);
    this.lastProblem = message;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { settings, log } = this.options;
    const root = this.options.tree();
    const services = servicesSubtree(root);
    // Until the services have started once, a render would only drop their upstreams for a moment.
    if (services?.state === 'running') this.servicesSeenRunning = true;
    const admin = this.options.admin();
    if (!this.servicesSeenRunning || !admin) return;
    const list = treeServices(services, { host: this.options.serviceHost, lastSeen: this.lastSeen, exclude: this.retiring });
    // A retiring instance that has left the tree needs no exclusion any more.
    for (const p of this.retiring) if (!this.lastSeen.has(p)) this.retiring.delete(p);
    if (settings.helper) return this.tickHelper({ nodeId: this.options.nodeId, admin, services: list });
    const input = await nginxInput(settings, { nodeId: this.options.nodeId, admin, services: list });
    const text = renderNginx(input);
    this.counters.renders++;
    // The file is compared on every tick (a hand edit is put right); a render nginx refused is
    // not tested again until the render changes.
    if (text !== this.rejectedText) {
      const result: ApplyResult = await applyNginx(text, { file: settings.file, nginxBin: settings.nginxBin, reload: settings.reload, pidFile: settings.pidFile });
      if (result.state === 'rejected') {
        this.rejectedText = text;
        this.counters.rejected++;
        return this.problem('nginx rejected the rendered config; the previous one stays loaded', { file: settings.file, nginx: result.error });
      }
      this.rejectedText = null;
      if (result.state === 'applied') {
        this.counters.applied++;
        log.info('nginx config applied', { file: settings.file, services: list.map((s) => `${s.mount}→${s.upstreams.map((u) => u.port).join(',')}`) });
        this.reloadPending = false;
        this.reloadFailures = 0;
        if (result.reloadError) return this.reloadFailed(result.reloadError);
        this.lastProblem = null;
        return;
      }
    }
    if (this.reloadPending && Date.now() >= this.nextReloadAt) {
      const error = await reloadNginx(settings.reload, settings.pidFile);
      if (error) return this.reloadFailed(error);
      this.reloadPending = false;
      this.reloadFailures = 0;
      log.info('nginx reloaded after an earlier failure', { file: settings.file });
    }
    if (!this.reloadPending && this.rejectedText === null) this.lastProblem = null;
  }

  /**
   * With the root-owned helper: the node hands over its routes (data only) when they change, or
   * when a reload is to be retried; the helper renders, tests, puts in place and reloads.
   */
  private async tickHelper(routes: NginxRoutes): Promise<void> {
    const { settings, log } = this.options;
    const text = routesText(routes);
    this.counters.renders++;
    if (text === this.rejectedText) return;
    if (text === this.appliedRoutes && !(this.reloadPending && Date.now() >= this.nextReloadAt)) {
      if (!this.reloadPending) this.lastProblem = null;
      return;
    }
    const result = await applyViaHelper(settings.helper!, routes);
    if (result.state === 'rejected' || result.state === 'invalid') {
      this.rejectedText = text;
      this.counters.rejected++;
      return this.problem(`the nginx helper refused the routes; the previous config stays loaded`, { helper: settings.helper!.argv.join(' '), error: result.error });
    }
    this.rejectedText = null;
    this.appliedRoutes = text;
    if (result.state === 'applied') {
      if (result.reloadError) return this.reloadFailed(result.reloadError);
      this.counters.applied++;
      log.info('nginx config applied by the helper', { file: settings.file, services: routes.services.map((s) => `${s.mount}→${s.upstreams.map((u) => u.port).join(',')}`) });
    }
    this.reloadPending = false;
    this.reloadFailures = 0;
    this.lastProblem = null;
  }

  private reloadFailed(error: string): void {
    this.counters.reloadFailures++;
    this.reloadPending = true;
    this.nextReloadAt = Date.now() + backoff(this.reloadFailures++, { baseMs: RELOAD_BACKOFF_MIN_MS, maxMs: RELOAD_BACKOFF_MAX_MS });
    this.problem('nginx config written but the reload failed; retrying', { file: this.options.settings.file, error });
  }
}

/** The watcher as a child of the node's `system` supervisor. */
export function nginxWatcherChild(options: NginxWatcherOptions & { id?: string }): ChildSpec {
  return inProcessChild({
    id: options.id ?? 'nginx',
    start: async () => {
      const watcher = new NginxWatcher(options);
      if (options.ref) options.ref.current = watcher;
      watcher.start();
      return {
        stop: async () => {
          if (options.ref?.current === watcher) options.ref.current = null;
          await watcher.stop();
        },
        status: () => watcher.status(),
      };
    },
  });
}
