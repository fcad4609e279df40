/**
 * The `/state/ws` protocol (PlaceOS-style bindings), shared by the server (wsServer.ts) and the
 * client (client.ts). JSON text messages:
 *
 *   client → { op: 'bind', id, site, device?, item?, status?, field? }
 *   server ← { type: 'snapshot', id, items }          the current values first, then
 *   server ← { type: 'change', id, change, field?, value? }   each matching change
 *   client → { op: 'unbind', id }   server ← { type: 'unbound', id }
 *   server ← { type: 'error', id?, reason }           a bad message; the connection stays open
 *
 * A binding is named by the client (`id`, a string or an integer) so it survives reconnection:
 * the client re-sends its binds to whichever instance it reaches and gets a fresh snapshot.
 * Binding the same id again replaces it.
 */
import type { StateChangeV1 } from '../messages.js';
import { selectorFrom, SelectorError, type ItemState, type Selector, type ValueField } from './selector.js';

export type BindingId = string | number;

/** What a binding selects: a site, optionally narrowed. `field`: only changes of that field. */
export interface Binding {
  site: number;
  device?: number;
  item?: number;
  status?: ItemState['status'];
  field?: ValueField;
}

export type ClientMessage = ({ op: 'bind'; id: BindingId } & Binding) | { op: 'unbind'; id: BindingId };

export type ServerMessage =
  | { type: 'snapshot'; id: BindingId; items: ItemState[] }
  | { type: 'change'; id: BindingId; change: StateChangeV1; field?: ValueField; value?: string | number }
  | { type: 'unbound'; id: BindingId }
  | { type: 'error'; id?: BindingId; reason: string };

/** A message the server refuses; `id` when the message had a usable one. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    readonly id?: BindingId,
  ) {
    super(message);
  }
}

const BIND_FIELDS = new Set(['op', 'id', 'site', 'device', 'item', 'status', 'field']);

/** Parses one text frame from a client; throws ProtocolError with the reason. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('message is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ProtocolError("message must be a JSON object such as { op: 'bind', id, site }");
  const m = value as Record<string, unknown>;
  const id = bindingId(m.id);
  if (m.op === 'unbind') return { op: 'unbind', id };
  if (m.op !== 'bind') throw new ProtocolError(`op: ${JSON.stringify(m.op) ?? 'missing'} is not 'bind' or 'unbind'`, id);
  for (const key of Object.keys(m)) if (!BIND_FIELDS.has(key)) throw new ProtocolError(`unknown field '${key}'; a bind has ${[...BIND_FIELDS].join(', ')}`, id);
  if (m.site === undefined) throw new ProtocolError('site is required in a bind', id);
  let sel: Selector;
  try {
    sel = selectorFrom(m, ['site', 'device', 'item', 'status', 'field']);
  } catch (err) {
    throw new ProtocolError(err instanceof SelectorError ? err.message : String(err), id);
  }
  return { op: 'bind', id, ...sel, site: sel.site! };
}

function bindingId(value: unknown): BindingId {
  if (typeof value === 'string' && value.length > 0 && value.length <= 128) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new ProtocolError(`id: ${JSON.stringify(value) ?? 'missing'} is not a binding id (a string of 1 to 128 characters or an integer)`);
}
