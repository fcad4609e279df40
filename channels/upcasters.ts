/**
 * The registry of version converters. A consumer names the version of each type it wants; a
 * message written in another version is converted along the shortest chain of registered steps
 * (`type@1 → type@2 → type@3`). Steps may also go down (`@2 → @1`), which lets an old consumer
 * keep reading while a new producer is swapped in.
 */
import type { Envelope } from './envelope.js';
import { UpcastError } from './errors.js';

export type Converter = (body: unknown, env: Envelope) => unknown;

export class Upcasters {
  private readonly steps = new Map<string, Map<number, Map<number, Converter>>>();

  /** Registers a step `type@from → type@to`. Registering the same step twice is a mistake. */
  register(type: string, from: number, to: number, convert: Converter): this {
    if (from === to) throw new UpcastError(type, from, to, 'a step must change the version');
    let byFrom = this.steps.get(type);
    if (!byFrom) this.steps.set(type, (byFrom = new Map()));
    let byTo = byFrom.get(from);
    if (!byTo) byFrom.set(from, (byTo = new Map()));
    if (byTo.has(to)) throw new UpcastError(type, from, to, 'this step is already registered');
    byTo.set(to, convert);
    return this;
  }

  /** True when `type@from` can be turned into `type@to`. */
  canConvert(type: string, from: number, to: number): boolean {
    return from === to || this.path(type, from, to) !== null;
  }

  /** Returns the envelope in version `to` (the same object when it already is). */
  convert(env: Envelope, to: number): Envelope {
    if (env.v === to) return env;
    const path = this.path(env.type, env.v, to);
    if (!path) throw new UpcastError(env.type, env.v, to, 'no chain of registered upcasters leads there');
    let current = env;
    for (const [from, next] of path) {
      const step = this.steps.get(env.type)?.get(from)?.get(next);
      if (!step) throw new UpcastError(env.type, from, next, 'step vanished from the registry');
      try {
        current = { ...current, v: next, body: step(current.body, current) };
      } catch (err) {
        throw new UpcastError(env.type, from, next, `the converter threw: ${(err as Error).message ?? String(err)}`);
      }
    }
    return current;
  }

  /** Breadth-first search, so the chain with the fewest steps wins. */
  private path(type: string, from: number, to: number): Array<[number, number]> | null {
    const byFrom = this.steps.get(type);
    if (!byFrom) return null;
    const cameFrom = new Map<number, number>([[from, from]]);
    const queue = [from];
    while (queue.length > 0) {
      const at = queue.shift()!;
      if (at === to) break;
      for (const next of byFrom.get(at)?.keys() ?? []) {
        if (!cameFrom.has(next)) {
          cameFrom.set(next, at);
          queue.push(next);
        }
      }
    }
    if (!cameFrom.has(to)) return null;
    const path: Array<[number, number]> = [];
    for (let at = to; at !== from; at = cameFrom.get(at)!) path.unshift([cameFrom.get(at)!, at]);
    return path;
  }
}

/** The process-wide registry services register into at import time. */
export const upcasters = new Upcasters();
