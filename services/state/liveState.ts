/**
 * The live state: every item's latest record in memory (site → device → item maps), the apply
 * rule, the queries, and the in-process listeners that feed SSE and WebSocket subscribers.
 *
 * The apply rule is what makes at-least-once delivery exactly-once in effect: an update applies
 * only when its sequence is greater than the one held for that item. One exception keeps
 * state.changes from being lost: the very message that applied the held record, delivered again
 * (its batch was not acknowledged: the emit failed, or the process died after the write), applies
 * again as a redelivery, so its change is emitted again instead of being swallowed as stale.
 */
import type { ItemRecord, StateChangeV1 } from '../messages.js';
import { ITEM_STATUSES } from '../messages.js';
import { matchesState, VALUE_FIELDS, type ItemState, type Selector } from './selector.js';

export interface UpdateHeader {
  site: number;
  device: number;
  seq: number;
  deviceTs: number;
}

export type ApplyResult = { kind: 'applied' | 'redelivered'; state: ItemState; change: StateChangeV1 } | { kind: 'stale' };

export type ChangeListener = (change: StateChangeV1) => void;

export class LiveState {
  private readonly sites = new Map<number, Map<number, Map<number, ItemState>>>();
  private readonly listeners = new Set<ChangeListener>();
  private count = 0;

  /** Number of items held. */
  get size(): number {
    return this.count;
  }

  /** Puts records as they are (the rebuild from item_state at start): no rule, no listeners. */
  load(records: Iterable<ItemState>): void {
    for (const r of records) this.put(r);
  }

  get(site: number, device: number, item: number): ItemState | undefined {
    return this.sites.get(site)?.get(device)?.get(item);
  }

  /** Applies one record of an update from the entry `source`, if it is newer than what is held. */
  apply(header: UpdateHeader, record: ItemRecord, source: string, now = Date.now()): ApplyResult {
    const held = this.get(header.site, header.device, record.item);
    if (held && header.seq <= held.seq) {
      if (header.seq === held.seq && source === held.source) return { kind: 'redelivered', state: held, change: toChange(held) };
      return { kind: 'stale' };
    }
    const changed = held ? VALUE_FIELDS.filter((f) => held[f] !== record[f]) : [...VALUE_FIELDS];
    // A new object each time: the write-behind queue holds references to records it has yet to write.
    const state: ItemState = {
      site: header.site,
      device: header.device,
      item: record.item,
      seq: header.seq,
      deviceTs: header.deviceTs,
      status: record.status,
      faultCode: record.faultCode,
      voltage: record.voltage,
      resistance: record.resistance,
      delayMs: record.delayMs,
      updatedAt: now,
      source,
      changed,
    };
    this.put(state);
    const change = toChange(state);
    this.notify(change);
    return { kind: 'applied', state, change };
  }

  /** Items matching `sel`, ordered by device then item. */
  select(sel: Selector): ItemState[] {
    const out: ItemState[] = [];
    const sites = sel.site === undefined ? [...this.sites.keys()].sort((a, b) => a - b) : [sel.site];
    for (const site of sites) {
      const devices = this.sites.get(site);
      if (!devices) continue;
      const ids = sel.device === undefined ? [...devices.keys()].sort((a, b) => a - b) : [sel.device];
      for (const device of ids) {
        const items = devices.get(device);
        if (!items) continue;
        const list = sel.item === undefined ? [...items.values()].sort((a, b) => a.item - b.item) : [items.get(sel.item)].filter((s) => s !== undefined);
        for (const s of list) if (matchesState(sel, s)) out.push(s);
      }
    }
    return out;
  }

  /** Calls `listener` with every applied change from now on; returns the unsubscribe. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private put(state: ItemState): void {
    let devices = this.sites.get(state.site);
    if (!devices) this.sites.set(state.site, (devices = new Map()));
    let items = devices.get(state.device);
    if (!items) devices.set(state.device, (items = new Map()));
    if (!items.has(state.item)) this.count++;
    items.set(state.item, state);
  }

  private notify(change: StateChangeV1): void {
    for (const listener of this.listeners) {
      // A subscriber's failure is its own (it drops its connection); the apply goes on.
      try {
        listener(change);
      } catch {
        /* the listener logs and cleans up itself */
      }
    }
  }
}

export function toChange(s: ItemState): StateChangeV1 {
  return {
    site: s.site,
    device: s.device,
    item: s.item,
    seq: s.seq,
    deviceTs: s.deviceTs,
    changed: s.changed,
    state: { item: s.item, status: s.status, faultCode: s.faultCode, voltage: s.voltage, resistance: s.resistance, delayMs: s.delayMs },
  };
}

/** Counts by status, every status present (0 when none), for the site view. */
export function countByStatus(items: Iterable<ItemState>): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(ITEM_STATUSES.map((status) => [status, 0]));
  for (const s of items) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}
