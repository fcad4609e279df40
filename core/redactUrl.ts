/** A connection URL fit for a message or a log line: the password, if any, shown as `***`. */
export function redactUrl(url: string, variable = 'URL'): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    // Never echo what could not be parsed: it may hold a password in a form URL() rejects.
    return `(unparseable ${variable})`;
  }
}
