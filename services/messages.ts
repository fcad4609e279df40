/**
 * The message bodies the reference pipeline passes between its services, by `type@v`, and the
 * fleet file's shape. One place, so producers and consumers agree (see docs/packet-format.md).
 */

/**
 * Frame types and item statuses, in wire order: the packet codec sends a frame type as its
 * index + 1 and a status as its index (docs/packet-format.md), so never reorder, only append.
 */
export const FRAME_TYPES = ['status', 'arm', 'fire', 'complete', 'abort', 'fault'] as const;
export const ITEM_STATUSES = ['unknown', 'connected', 'armed', 'fired', 'misfire', 'fault'] as const;

export type FrameType = (typeof FRAME_TYPES)[number];
export type ItemStatus = (typeof ITEM_STATUSES)[number];

export const CHANNELS = {
  raw: 'packets.raw',
  parsed: 'packets.parsed',
  changes: 'state.changes',
} as const;

/** `packet.raw@1` on packets.raw: one frame as accepted by ingest (header already read in clear). */
export interface PacketRawV1 {
  /** The whole frame, base64. */
  frame: string;
  site: number;
  device: number;
  seq: number;
  receivedAt: number;
}

/** One detonator's record in a frame. */
export interface ItemRecord {
  item: number;
  status: ItemStatus;
  faultCode: number;
  /** Volts. */
  voltage: number;
  /** Ohms. */
  resistance: number;
  delayMs: number;
}

/** `packet.parsed@1` on packets.parsed: a decrypted, decoded frame. */
export interface PacketParsedV1 {
  site: number;
  device: number;
  seq: number;
  deviceTs: number;
  frameType: FrameType;
  blastId: number;
  items: ItemRecord[];
  /** Id of the packets.raw entry it came from. */
  rawId: string;
}

/** `state.change@1` on state.changes: one item's state after an update was applied. */
export interface StateChangeV1 {
  site: number;
  device: number;
  item: number;
  seq: number;
  deviceTs: number;
  /** Field names whose value changed. */
  changed: Array<keyof ItemRecord>;
  state: ItemRecord;
}

export interface FleetDevice {
  id: number;
  token: string;
  detonators?: number[];
}

export interface FleetSite {
  id: number;
  /** AES-256 key, 64 hex characters. */
  key: string;
  devices: FleetDevice[];
}

export interface Fleet {
  sites: FleetSite[];
}
