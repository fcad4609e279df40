/**
 * What the pusher sees. Everything `hydra deploy receive` prints goes through here: one line per
 * step (`hydra: install: …`), the output of npm and of the build prefixed with its source
 * (`hydra:   npm ci | added 12 packages`), and errors. git relays the hook's stdout and stderr
 * to the pusher as `remote:` lines as they come, so a line is written the moment it is known.
 */
export interface Progress {
  /** A step or an outcome. */
  step(message: string): void;
  /** One line of a command's output, under the label of the command. */
  output(label: string, line: string): void;
  /** A refusal or failure (to stderr, which git shows the same way). */
  error(message: string): void;
}

export interface ProgressOptions {
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const PREFIX = 'hydra: ';

export function createProgress(options: ProgressOptions = {}): Progress {
  const out = options.out ?? ((text: string) => process.stdout.write(text));
  const err = options.err ?? ((text: string) => process.stderr.write(text));
  const lines = (text: string) => text.split('\n').map((l) => `${PREFIX}${l}\n`).join('');
  return {
    step: (message) => out(lines(message)),
    // Terminal control characters (npm's spinner, colours) would garble the pusher's screen.
    output: (label, line) => out(`${PREFIX}  ${label} | ${line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/[\r\x00-\x08\x0b-\x1f]/g, '')}\n`),
    error: (message) => err(lines(message)),
  };
}

/** A commit as people read it (`git log --abbrev=12`). */
export function short(commit: string): string {
  return commit.slice(0, 12);
}
