/**
 * Option values of the `hydra scheduler …` commands, checked one by one before anything is
 * written: a bad one is a UsageError (exit 2) that names the option, the value given and what
 * is expected, e.g. `--instances: '-1' is invalid; expected a whole number of at least 0`.
 */
import { hostname } from 'node:os';
import { UsageError } from '../../core/cli.js';

/** Who did it, for the audit log and the run records. */
export function cliActor(): string {
  return `cli@${hostname()}`;
}

function invalid(option: string, raw: string, expected: string): UsageError {
  return new UsageError(`${option}: '${raw}' is invalid; expected ${expected}`);
}

/**
 * node:util parseArgs refuses `--instances -1` as "ambiguous" (the value looks like an option)
 * without naming the value. Joining it into `--instances=-1` lets the value check below say
 * what was wrong with it. Only for the given numeric options, and only a value that looks like
 * a negative number: `--pin --json` must stay a usage error.
 */
export function joinNegativeValues(args: string[], options: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (options.includes(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export function wholeNumber(option: string, raw: string, min: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw invalid(option, raw, `a whole number of at least ${min}`);
  return n;
}

/** A non-negative decimal such as 0.5 or 2 (cores). */
export function decimal(option: string, raw: string): number {
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n)) throw invalid(option, raw, 'a number of at least 0, e.g. 0.5');
  return n;
}

/** Repeated `--constraint k=v`: each needs a key and an `=`; a key given twice is a mistake. */
export function keyValues(option: string, raws: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of raws) {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw invalid(option, raw, 'KEY=VALUE');
    const key = raw.slice(0, eq);
    if (key in out) throw new UsageError(`${option}: '${key}' is given twice ('${key}=${out[key]}' and '${raw}')`);
    out[key] = raw.slice(eq + 1);
  }
  return out;
}

export function jsonValue(option: string, raw: string, expected: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw invalid(option, raw, `${expected} (${(err as Error).message})`);
  }
}
