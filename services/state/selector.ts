/**
 * The live-state record of one item and the selector every query and subscription uses
 * (site/device/item/status, plus `field` for subscriptions), parsed from HTTP query parameters
 * or a WebSocket bind. One parser for both, so `/state/items`, `/state/stream` and `/state/ws`
 * accept and refuse the same values with the same reasons.
 */
import { ITEM_STATUSES, type ItemRecord, type ItemStatus, type StateChangeV1 } from '../messages.js';


/** The fields of a record that an update can change (`item` is the record's identity). */
export type ValueField = Exclude<keyof ItemRecord, 'item'>;
export const VALUE_FIELDS: readonly ValueField[] = ['status', 'faultCode', 'voltage', 'resistance', 'delayMs'];

/** One item's state as served (HTTP, WebSocket snapshot) and persisted (item_state). */
export interface ItemState extends ItemRecord {
  site: number;
  device: number;
  seq: number;
  deviceTs: number;
  /** When this node applied the update, epoch ms. */
  updatedAt: number;
  /** The packets.parsed entry id the update came from: tells a redelivery from a duplicate. */
  source: string;
  /** The fields that update changed (what its state.change said). */
  changed: ValueField[];
}

export interface Selector {
  site?: number;
  device?: number;
  item?: number;
  status?: ItemStatus;
  /** Subscriptions only: changes whose `changed` includes this field. */
  field?: ValueField;
}

export type SelectorKey = keyof Selector;
export const SELECTOR_KEYS: readonly SelectorKey[] = ['site', 'device', 'item', 'status', 'field'];

/** A selector value that is not acceptable; the message names the parameter and the value. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

const UINT32_MAX = 4_294_967_295;

/**
 * The selector in `query`, accepting only the parameters in `allowed`: an unknown parameter is
 * refused too, since a typo (`?devcie=`) would otherwise widen the answer silently.
 */
export function selectorFromQuery(query: URLSearchParams, allowed: readonly SelectorKey[]): Selector {
  const raw: Record<string, unknown> = {};
  for (const [name, value] of query) {
    if (!(allowed as readonly string[]).includes(name)) throw new SelectorError(`unknown query parameter '${name}'; expected ${allowed.join(', ')}`);
    if (name in raw) throw new SelectorError(`query parameter '${name}' is given more than once`);
    raw[name] = value;
  }
  return selectorFrom(raw, allowed);
}

/** The selector in an object (a bind message); ids may be numbers or digit strings. */
export function selectorFrom(raw: Record<string, unknown>, keys: readonly SelectorKey[]): Selector {
  const sel: Selector = {};
  for (const key of keys) {
    const value = raw[key];
    if (value === undefined) continue;
    if (key === 'status') {
      if (typeof value !== 'string' || !(ITEM_STATUSES as readonly string[]).includes(value)) throw new SelectorError(`status: ${show(value)} is not one of ${ITEM_STATUSES.join(', ')}`);
      sel.status = value as ItemStatus;
    } else if (key === 'field') {
      if (typeof value !== 'string' || !(VALUE_FIELDS as readonly string[]).includes(value)) throw new SelectorError(`field: ${show(value)} is not one of ${VALUE_FIELDS.join(', ')}`);
      sel.field = value as ValueField;
    } else sel[key] = uint32(key, value);
  }
  return sel;
}

export function uint32(name: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new SelectorError(`${name}: ${show(value)} is not an id (an integer from 0 to ${UINT32_MAX})`);
  return n;
}

export function matchesState(sel: Selector, s: ItemState): boolean {
  return (
    (sel.site === undefined || sel.site === s.site) &&
    (sel.device === undefined || sel.device === s.device) &&
    (sel.item === undefined || sel.item === s.item) &&
    (sel.status === undefined || sel.status === s.status)
  );
}

/** A change matches on its new state; with `field`, only when that field changed. */
export function matchesChange(sel: Selector, c: StateChangeV1): boolean {
  return (
    (sel.site === undefined || sel.site === c.site) &&
    (sel.device === undefined || sel.device === c.device) &&
    (sel.item === undefined || sel.item === c.item) &&
    (sel.status === undefined || sel.status === c.state.status) &&
    (sel.field === undefined || c.changed.includes(sel.field))
  );
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
