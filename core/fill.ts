/**
 * The placeholder filler of the config templates (nginx/templates/, pgbouncer/templates/):
 * `{{name}}` → value. Strict both ways, so a template and its renderer cannot drift apart
 * silently: a placeholder without a value and a value without a placeholder both throw.
 */
/** Replaces every `{{name}}`; a placeholder without a value (or a value never used) is a bug, not a blank. */
export function fill(template: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([a-zA-Z0-9]+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    used.add(name);
    return v;
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length > 0) throw new Error(`template has no placeholder for ${unused.join(', ')}`);
  return out;
}
