/**
 * The types of the service SDK: the manifest a service declares (`ServiceManifest`), the `ctx`
 * its hooks get (`ServiceContext`), and the shapes of its HTTP routes, functions and WebSocket
 * endpoint. Types only, so importing them costs a service process nothing at start.
 *
 * `S` is the instance's state: what `init` returns, handed as the last argument to `handle`,
 * `stop`, `health`, every route handler, function and WebSocket connection of the same instance.
 * A service keeps its pools, caches and flags there instead of in module-level variables, so
 * nothing is reachable before `init` made it and the types say it is always there. A service
 * without `init` (or whose `init` returns nothing) has no state and ignores the argument.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import type { Envelope } from '../channels/envelope.js';
import type { Logger } from '../core/log.js';
import type { CallerRole, ParamSpec } from './functionParams.js';
import type { RouteAuth } from './apiToken.js';

export type { RouteAuth, ApiRole } from './apiToken.js';

export type { CallerRole, ParamSpec, ParamType } from './functionParams.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

export interface HttpRequest {
  method: string;
  /** The path below the service's mount point (`/sites/s1` for `/<name>/sites/s1`). */
  path: string;
  /** Values of the route's `:name` segments, URI-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The whole request body (at most 1 MiB; larger requests are answered 413 before the handler runs). */
  body: Buffer;
  /** The body parsed as JSON; invalid JSON throws an HttpError 400. */
  json<T = unknown>(): T;
  raw: IncomingMessage;
  /** For handlers that answer themselves (SSE): write here and return undefined. */
  res: ServerResponse;
}

export interface HttpResponse {
  /** Default 200, or 204 without a body. */
  status?: number;
  headers?: Record<string, string>;
  /** A string (text/plain) or Buffer (application/octet-stream) is sent as is; anything else as JSON. */
  body?: string | Buffer | object | number | boolean | null;
}

// The state-taking callbacks are declared as methods, whose parameters TypeScript checks
// bivariantly: so a manifest of any state is still a `ServiceManifest` (the runtime's view,
// state `unknown`), as it was before services had state.

export interface HttpRoute<S = unknown> {
  method: HttpMethod;
  /** Below `/<service name>`: literal segments and `:param` segments, e.g. `/sites/:site`. */
  path: string;
  /**
   * Who may call it (default `viewer` for GET and HEAD, `operator` for the rest): the runtime
   * answers 401 without a valid API token (`Authorization: Bearer`, or the `hydra_token`
   * cookie) and 403 when its role is too low. `device`: no API token is asked for, the handler
   * checks the device's own token. `public`: anyone.
   */
  auth?: RouteAuth;
  handler(req: HttpRequest, ctx: ServiceContext, state: S): HttpResponse | void | Promise<HttpResponse | void>;
}

export type HttpHandler<S = unknown> = HttpRoute<S>['handler'];

export interface UpcasterStep {
  type: string;
  from: number;
  to: number;
  convert: (body: unknown) => unknown;
}

/** A function callable by cron jobs and operators (see `ServiceManifest.functions`). */
export type ServiceFunction<S = unknown> = { run(args: Record<string, unknown>, ctx: ServiceContext, state: S): unknown }['run'];

/**
 * A function with typed parameters: it runs only with arguments that fit `params` (unknown,
 * missing or mistyped ones answer 400 naming the parameter), defaults filled in; `GET
 * /_hydra/functions` lists them. See functionParams.ts.
 */
export interface TypedServiceFunction<S = unknown> {
  params: Record<string, ParamSpec>;
  description?: string;
  /** Who may call it (default anyone): a call coming as another role answers 403. */
  roles?: CallerRole[];
  run(args: Record<string, unknown>, ctx: ServiceContext, state: S): unknown;
}

export interface ServiceHealth {
  healthy: boolean;
  detail?: string;
}

export interface ServiceContext {
  readonly service: string;
  readonly version: string;
  /** The supervised child id (`parse#1`): stable across restarts, the consumer name. */
  readonly instance: string;
  readonly log: Logger;
  /**
   * Publishes `body` as `type@v` to `channel`; both must be declared in `produces`, else it
   * throws naming them. Inside `handle` the message is buffered and published after `handle`
   * resolves and before the batch is acknowledged (a failed batch publishes nothing); elsewhere
   * (HTTP, init, timers) it is published at once and the promise resolves when the channel has it.
   */
  emit(channel: string, typeRef: string, body: unknown, key?: string): Promise<void>;
  /** Custom counters, reported with the runtime's own in every heartbeat. */
  readonly counters: Record<string, number>;
  /**
   * Inside `handle` only: sends `message` to its channel's dead-letter stream with `reason`
   * instead of acknowledging it, for input that can never be handled (a frame that fails
   * authentication). Throwing instead would retry it `maxDeliveries` times first.
   */
  deadLetter(message: Envelope, reason: string): void;
}

/**
 * A WebSocket endpoint at `<mount><path>`: the runtime answers the HTTP upgrade (frames at most
 * 64 KiB) and hands each connection over; the service owns the protocol from there on.
 */
export interface WebSocketEndpoint<S = unknown> {
  /** Below the mount point, literal segments only, e.g. `/ws`. */
  path: string;
  /** Who may open it (default `viewer`), checked on the upgrade request like a route's `auth`. */
  auth?: RouteAuth;
  onConnection(socket: WebSocket, req: IncomingMessage, ctx: ServiceContext, state: S): void;
}

/**
 * A service's declaration. `S`, the instance state, is inferred from what `init` returns and from
 * nothing else (`NoInfer`): a route written for part of the state (`HttpRoute<{ pool: Pool }>`)
 * fits without narrowing it. Declare `init` before the hooks that take the state, since
 * TypeScript types an object literal's methods left to right.
 */
export interface ServiceManifest<S = unknown> {
  /** Lower-case id: the consumer group, the HTTP mount point `/<name>/`, the log field. */
  name: string;
  /** Semantic version, e.g. `1.4.0`. */
  version: string;
  /** Channel → the `type@v` refs read from it; other versions are converted by upcasters. */
  consumes?: Record<string, string[]>;
  /** Channel → the `type@v` refs this service may emit to it. */
  produces?: Record<string, string[]>;
  http?: HttpRoute<NoInfer<S>>[];
  /** Where the routes are served; default `/<name>`. */
  mount?: string;
  websocket?: WebSocketEndpoint<NoInfer<S>>;
  /**
   * Opens the instance's resources and returns its state (or nothing). Runs once per process,
   * before the HTTP server and the consumers start, so every other hook gets what it returned.
   */
  init?(ctx: ServiceContext): S | Promise<S>;
  handle?(batch: Envelope[], ctx: ServiceContext, state: NoInfer<S>): void | Promise<void>;
  /** Called once consumers and HTTP are quiet, only if `init` resolved: closes what `init` opened. */
  stop?(ctx: ServiceContext, state: NoInfer<S>): void | Promise<void>;
  /** Asked only once the instance is ready (after `init`). */
  health?(state: NoInfer<S>): ServiceHealth;
  /**
   * Functions the scheduler's cron jobs (and operators) can call: `POST /_hydra/functions/<name>`
   * on the instance with `{ "args": {…} }`, answered `{ "result": … }`. A throw answers 500 with
   * the message (an HttpError its own status). `{ params, run }` declares typed parameters with
   * defaults, checked before `run` is called.
   */
  functions?: Record<string, ServiceFunction<NoInfer<S>> | TypedServiceFunction<NoInfer<S>>>;
  /**
   * Converters between versions of the message types this service reads, registered by the
   * runtime for its channels before any consumer starts. Declared here (not registered from the
   * module) because a release's code and the runtime are separate module instances: only the
   * runtime's registry is used. `work@1` entries left in a channel reach a `work@2` consumer
   * through a `{ type: 'work', from: 1, to: 2 }` step (and `to: 1` steps convert down).
   */
  upcasters?: UpcasterStep[];
  /** Entries per `handle` call (default 100). */
  batchSize?: number;
  /** Deliveries before an entry goes to the dead-letter stream (default 5). */
  maxDeliveries?: number;
}
