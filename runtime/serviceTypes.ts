/**
 * The types of the service SDK: the manifest a service declares (`ServiceManifest`), the `ctx`
 * its hooks get (`ServiceContext`), and the shapes of its HTTP routes, functions and WebSocket
 * endpoint. Types only, so importing them costs a service process nothing at start.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import type { Envelope } from '../channels/envelope.js';
import type { Logger } from '../core/log.js';
import type { CallerRole, ParamSpec } from './functionParams.js';

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

export type HttpHandler = (req: HttpRequest, ctx: ServiceContext) => HttpResponse | void | Promise<HttpResponse | void>;

export interface HttpRoute {
  method: HttpMethod;
  /** Below `/<service name>`: literal segments and `:param` segments, e.g. `/sites/:site`. */
  path: string;
  handler: HttpHandler;
}

export interface UpcasterStep {
  type: string;
  from: number;
  to: number;
  convert: (body: unknown) => unknown;
}

export type ServiceFunction = (args: Record<string, unknown>, ctx: ServiceContext) => unknown;

/**
 * A function with typed parameters: it runs only with arguments that fit `params` (unknown,
 * missing or mistyped ones answer 400 naming the parameter), defaults filled in; `GET
 * /_hydra/functions` lists them. See functionParams.ts.
 */
export interface TypedServiceFunction {
  params: Record<string, ParamSpec>;
  description?: string;
  /** Who may call it (default anyone): a call coming as another role answers 403. */
  roles?: CallerRole[];
  run: ServiceFunction;
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
export interface WebSocketEndpoint {
  /** Below the mount point, literal segments only, e.g. `/ws`. */
  path: string;
  onConnection(socket: WebSocket, req: IncomingMessage, ctx: ServiceContext): void;
}

export interface ServiceManifest {
  /** Lower-case id: the consumer group, the HTTP mount point `/<name>/`, the log field. */
  name: string;
  /** Semantic version, e.g. `1.4.0`. */
  version: string;
  /** Channel → the `type@v` refs read from it; other versions are converted by upcasters. */
  consumes?: Record<string, string[]>;
  /** Channel → the `type@v` refs this service may emit to it. */
  produces?: Record<string, string[]>;
  http?: HttpRoute[];
  /** Where the routes are served; default `/<name>`. */
  mount?: string;
  websocket?: WebSocketEndpoint;
  init?(ctx: ServiceContext): void | Promise<void>;
  handle?(batch: Envelope[], ctx: ServiceContext): void | Promise<void>;
  stop?(ctx: ServiceContext): void | Promise<void>;
  health?(): ServiceHealth;
  /**
   * Functions the scheduler's cron jobs (and operators) can call: `POST /_hydra/functions/<name>`
   * on the instance with `{ "args": {…} }`, answered `{ "result": … }`. A throw answers 500 with
   * the message (an HttpError its own status). `{ params, run }` declares typed parameters with
   * defaults, checked before `run` is called.
   */
  functions?: Record<string, ServiceFunction | TypedServiceFunction>;
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
