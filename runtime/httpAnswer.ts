/**
 * Writing a service's HTTP answers: a handler's HttpResponse, a JSON body, and the one error
 * shape every runtime and handler error takes, `{ "error": "<reason>" }`. The reason is the
 * message only, never the error's class name: clients read it, and `HttpError: no report 9`
 * told them about our code, not their request.
 */
import type { ServerResponse } from 'node:http';
import type { HttpResponse } from './serviceTypes.js';

/** What every error answer's body is (docs/api.md, "Errors"). */
export interface ErrorBody {
  error: string;
}

export function respond(res: ServerResponse, out: HttpResponse): void {
  for (const [name, value] of Object.entries(out.headers ?? {})) res.setHeader(name, value);
  send(res, out.status ?? (out.body === undefined ? 204 : 200), out.body);
}

export function send(res: ServerResponse, status: number, body: HttpResponse['body']): void {
  res.statusCode = status;
  if (body === undefined) return void res.end();
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    if (!res.hasHeader('content-type')) res.setHeader('content-type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    return void res.end(body);
  }
  if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

export function sendError(res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  send(res, status, { error: reason } satisfies ErrorBody);
}

/**
 * The status and reason a thrown value answers with: an HttpError's own status, else 500.
 * An HttpError is recognised by its name and status, not `instanceof`: a service loaded from a
 * release has its own copy of the SDK module, so its HttpError is another class than ours.
 */
export function errorAnswer(err: unknown): { status: number; reason: string } {
  const status = httpStatusOf(err);
  return { status: status ?? 500, reason: messageOf(err) };
}

function httpStatusOf(err: unknown): number | undefined {
  if (!(err instanceof Error) || err.name !== 'HttpError') return undefined;
  const status = (err as Error & { status?: unknown }).status;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined;
}

/** The message of an error without its class name; any other thrown value as text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
