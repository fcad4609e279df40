/**
 * State's check of a consumed entry before it touches the state: the one packet.parsed@1 check
 * (services/checkParsed.ts), named for state in its wrong-type message.
 */
import type { Envelope } from '../../channels/index.js';
import { checkParsedPacket } from '../checkParsed.js';
import type { PacketParsedV1 } from '../messages.js';

/** The body of `m` as a checked PacketParsedV1; throws ParsedPacketError naming the first bad field. */
export function checkUpdate(m: Envelope): PacketParsedV1 {
  return checkParsedPacket(m, 'state');
}
