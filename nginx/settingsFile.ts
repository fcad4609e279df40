/**
 * Reads a settings file of `KEY=VALUE` lines (/etc/hydra/hydra.env) without a shell: nothing in
 * it is ever run, expanded or sourced. Only `HYDRA_*` keys are kept; a value may be wrapped in
 * double quotes. The values are validated by whoever uses them (nginx/config.ts).
 */
import { readFileSync } from 'node:fs';

export function parseSettings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq < 1) continue;
    const key = line.slice(0, eq);
    if (!/^HYDRA_[A-Z0-9_]+$/.test(key)) continue;
    let value = line.slice(eq + 1);
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out[key] = value;
  }
  return out;
}

export const readSettingsFile = (file: string): Record<string, string> => parseSettings(readFileSync(file, 'utf8'));
