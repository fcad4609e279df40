/**
 * The release-wide message check: every `type@v` a service consumes from a channel must be
 * something the release can deliver there, i.e. some service of the release produces that type
 * on that channel at a version the consumer can convert to the one it consumes (the same
 * version needs no conversion). A consumer no producer can satisfy would start and wait
 * forever, or dead-letter every message with an UpcastError; the push is refused instead,
 * naming service, channel and type.
 *
 * The conversions that count are the consumer's own: the runtime registers the upcasters its
 * manifest declares (`upcasters: [{ type, from, to, convert }]`) in the consumer's process, and
 * converts there. Converters a release module registers into its own copy of channels/ at
 * import time never reach the runtime's registry (another module instance), nor does what one
 * service declares reach another service's process; so neither is counted here.
 */
import { parseTypeRef } from '../channels/envelope.js';
import { Upcasters } from '../channels/upcasters.js';

export interface UpcasterDecl {
  type: string;
  from: number;
  to: number;
}

export interface DeclaredService {
  /** The catalog id. */
  id: string;
  consumes: Record<string, string[]>;
  produces: Record<string, string[]>;
  upcasters: UpcasterDecl[];
}

function registryOf(steps: UpcasterDecl[]): Upcasters {
  const registry = new Upcasters();
  const seen = new Set<string>();
  for (const s of steps) {
    const key = `${s.type}@${s.from}>${s.to}`;
    if (seen.has(key) || s.from === s.to) continue;
    seen.add(key);
    registry.register(s.type, s.from, s.to, (body) => body);
  }
  return registry;
}

export function unproducibleTypes(services: DeclaredService[]): string[] {
  const problems: string[] = [];
  for (const consumer of services) {
    const registry = registryOf(consumer.upcasters);
    for (const [channel, refs] of Object.entries(consumer.consumes)) {
      for (const ref of refs) {
        const { type, v } = parseTypeRef(ref);
        const offered: Array<{ producer: string; v: number }> = [];
        for (const p of services) {
          for (const r of p.produces[channel] ?? []) {
            const made = parseTypeRef(r);
            if (made.type === type) offered.push({ producer: p.id, v: made.v });
          }
        }
        if (offered.some((o) => registry.canConvert(type, o.v, v))) continue;
        const what = `service '${consumer.id}' consumes ${ref} from ${channel}`;
        if (offered.length === 0) problems.push(`${what}, but no service of this release produces ${type} on ${channel}`);
        else {
          const list = offered.map((o) => `${o.producer} produces ${type}@${o.v}`).join(', ');
          const from = offered[0]!.v;
          problems.push(
            `${what}, but its upcasters convert none of what is produced there to @${v} (${list}); ` +
              `declare upcasters: [{ type: '${type}', from: ${from}, to: ${v}, convert }] in ${consumer.id}'s manifest, or consume a produced version`,
          );
        }
      }
    }
  }
  return problems;
}
