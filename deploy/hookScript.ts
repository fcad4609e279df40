/**
 * The repository's pre-receive hook, rendered from data (a pure function, unit-tested). It is
 * pre-receive, not post-receive, on purpose: git moves the branch only when the hook exits 0, so
 * a push whose build, checks or rollout fail is refused and the branch keeps naming what runs.
 *
 * Everything is an absolute path fixed at `hydra deploy init` time (the node binary, this
 * hydra, HYDRA_HOME…): a push over SSH runs the hook with a bare login environment, a push from
 * a local path with the pusher's, and neither must decide which hydra or database is used.
 */

export interface HookInput {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of this hydra's `bin/hydra`. */
  hydra: string;
  /** Variables exported before anything runs (HYDRA_*, DATABASE_URL, REDIS_URL, PATH). */
  env: Record<string, string>;
  /** A file of VAR=value lines sourced at each push (e.g. /etc/hydra/hydra.env); wins over `env`. */
  envFile: string | null;
  /** `$HYDRA_HOME/deploy.lock`. */
  lockFile: string;
  /** Options for `hydra deploy receive`. */
  receiveArgs: string[];
  /** How long a push waits for the one before it (default 1800 s). */
  lockWaitSeconds?: number;
}

/** Variables a hook carries over from `hydra deploy init`: the node's own settings, and PATH (npm, git, tar). */
export function hookEnv(env: Record<string, string | undefined>, nodeBinDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === undefined || value === '') continue;
    if (/^HYDRA_[A-Z0-9_]+$/.test(name) || name === 'DATABASE_URL' || name === 'REDIS_URL') out[name] = value;
  }
  // The node that runs hydra first, so the npm beside it installs the release.
  const rest = (env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((p) => p !== '' && p !== nodeBinDir);
  out.PATH = [nodeBinDir, ...rest].join(':');
  return out;
}

/** POSIX shell single quotes: the value is taken literally, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderHook(input: HookInput): string {
  const wait = input.lockWaitSeconds ?? 1800;
  const q = shellQuote;
  const exports = Object.entries(input.env).map(([name, value]) => `export ${name}=${q(value)}`);
  const envFile = input.envFile
    ? [
        '',
        "# The node's environment file, read at each push: it wins over the values above.",
        `if [ -r ${q(input.envFile)} ]; then`,
        `  set -a; . ${q(input.envFile)}; set +a`,
        'else',
        `  echo ${q(`hydra: warning: ${input.envFile} is missing or unreadable; using the settings of 'hydra deploy init'`)}`,
        'fi',
      ]
    : [];
  return [
    '#!/bin/sh',
    "# Hydra deploy hook, written by 'hydra deploy init': run that again to change it (edits here are",
    '# overwritten). A push runs `hydra deploy receive`, which builds the pushed commit and rolls out',
    '# the services whose code changed; a non-zero exit refuses the push and the branch does not move.',
    'set -u',
    '',
    "# A push from a local path runs this hook with the pusher's environment: their Node and npm",
    "# settings must not reach the release's install and build.",
    'unset NODE_OPTIONS',
    "for name in $(env | sed -n 's/^\\([Nn][Pp][Mm]_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset \"$name\"; done",
    '',
    "# The node's settings when 'hydra deploy init' ran.",
    ...exports,
    ...envFile,
    '',
    '# One push at a time (flock, util-linux): a second push waits here until the first is done,',
    '# so two releases are never checked out, built or rolled out interleaved.',
    `exec 9>>${q(input.lockFile)}`,
    'if ! flock -n 9; then',
    `  echo ${q(`hydra: another push is being deployed on this node; this one waits for it to finish (at most ${wait} s)`)}`,
    `  if ! flock -w ${wait} 9; then`,
    `    echo ${q(`hydra: refused: the push before is still deploying after ${wait} s; push again later (its lock is ${input.lockFile})`)} >&2`,
    '    exit 1',
    '  fi',
    "  echo 'hydra: the push before has finished; deploying this one'",
    'fi',
    '',
    '# git runs this hook in the repository with GIT_DIR and the quarantine variables set (the',
    '# pushed objects are not in the repository proper yet): receive keeps them for the git',
    '# commands that read those objects and removes every GIT_* variable from npm and the build.',
    `exec ${[input.node, input.hydra, 'deploy', 'receive', ...input.receiveArgs].map(q).join(' ')}`,
    '',
  ].join('\n');
}
