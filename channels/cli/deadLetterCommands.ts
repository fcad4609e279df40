/**
 * `hydra channel dead | replay | discard`: an operator's view of a channel's dead letters (what
 * failed `maxDeliveries` times, could not be decoded or converted, or a handler rejected), and
 * the two ways out once the cause is fixed: replay (back into the channel, atomically out of the
 * dead-letter stream, so never twice and never lost) or discard. Redis channels only: a memory
 * channel lives inside one process. Strict options (exit 2 naming the bad value), `--json`,
 * a progress line per dead letter, a one-line summary; Redis unreachable is exit 1.
 */
import { EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { isChannelName, type Channel } from '../channel.js';
import { compareStreamIds } from '../streamId.js';
import type { DeadLetter } from '../transport.js';
import { withRedisChannel } from './redisFromEnv.js';
import { formatTime, plural, renderTable } from '../../core/table.js';
import { oneLine } from './render.js';

const USAGE = {
  dead: 'hydra channel dead <channel> [--limit N] [--json]',
  replay: 'hydra channel replay <channel> (--id DEADID [--id DEADID]... | --all) [--dry-run] [--max-wait SECONDS] [--json]',
  discard: 'hydra channel discard <channel> --id DEADID [--id DEADID]... [--dry-run] [--json]',
};
const DEFAULT_LIMIT = 50;
/** How long a replay waits for the channel's backlog to fall under its high-water mark. */
const DEFAULT_MAX_WAIT_S = 30;
const PAGE = 100;

// ---- arguments -----------------------------------------------------------------------------

export function channelName(raw: string): string {
  if (!isChannelName(raw)) throw new UsageError(`<channel>: '${raw}' is not a channel name; expected lower case letters, digits, '.', '_', '-', starting with a letter (e.g. packets.raw)`);
  return raw;
}

/** The ids given with --id, in order, each once. */
function deadIds(raw: string[] | undefined): string[] {
  const ids = raw ?? [];
  for (const id of ids) {
    if (!/^\d+-\d+$/.test(id)) throw new UsageError(`--id: '${id}' is not a dead-letter id; expected <ms>-<seq> as 'hydra channel dead' lists them, e.g. 1700000000000-0`);
  }
  return [...new Set(ids)];
}

function wholeNumber(option: string, raw: string, min: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${option}: '${raw}' is invalid; expected a whole number of at least ${min}`);
  return n;
}

function seconds(option: string, raw: string): number {
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : NaN;
  if (!(n > 0)) throw new UsageError(`${option}: '${raw}' is invalid; expected a number of seconds above 0, e.g. 30`);
  return n;
}

// ---- output --------------------------------------------------------------------------------

/** `packet.raw@1`; `?` for what an undecodable entry lacks. */
function typeRef(d: DeadLetter): string {
  return `${d.fields.type ?? '?'}@${d.fields.v ?? '?'}`;
}

/** When the entry was dead-lettered: the ms part of its dead-letter id. */
function deadAt(d: DeadLetter): Date {
  return new Date(Number(d.id.split('-')[0]));
}

function deadLetterJson(d: DeadLetter) {
  const v = Number(d.fields.v);
  return {
    id: d.id,
    originalId: d.originalId,
    type: d.fields.type ?? null,
    v: Number.isInteger(v) ? v : null,
    group: d.group,
    consumer: d.consumer,
    deliveries: d.deliveries,
    deadLetteredAt: deadAt(d).toISOString(),
    error: d.error,
    fields: d.fields,
  };
}

function out(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

// ---- hydra channel dead --------------------------------------------------------------------

const dead: Command = {
  path: ['channel', 'dead'],
  summary: "list a channel's dead letters (newest, oldest first): id, original id, type@v, deliveries, when, error",
  usage: USAGE.dead,
  async run(args) {
    const p = parseCommandArgs(args, { limit: { type: 'string' } }, ['<channel>']);
    if (helpOr(p, USAGE.dead)) return EXIT_OK;
    const name = channelName(p.positionals[0]!);
    const limit = p.values.limit === undefined ? DEFAULT_LIMIT : wholeNumber('--limit', String(p.values.limit), 1);
    const json = Boolean(p.values.json);
    const { total, letters, key } = await withRedisChannel(name, {}, async (channel, settings) => {
      const [count, letters] = await Promise.all([channel.deadLetterCount(), channel.deadLetters(limit)]);
      // Counted and read in two commands: one dead-lettered in between must not show as "3 of 2".
      return { total: Math.max(count, letters.length), letters, key: `${settings.keyPrefix}${name}:dead` };
    });
    const summary = `${plural(total, 'dead letter')} in ${name} (showing ${letters.length})`;
    const table = renderTable(
      ['DEAD ID', 'ORIGINAL ID', 'TYPE', 'DELIVERIES', 'WHEN', 'ERROR'],
      letters.map((d) => [d.id, d.originalId || '-', typeRef(d), String(d.deliveries), formatTime(deadAt(d)), oneLine(d.error, 100) || '-']),
    );
    out(json, { channel: name, key, total, showing: letters.length, deadLetters: letters.map(deadLetterJson) }, letters.length === 0 ? summary : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

// ---- hydra channel replay | discard --------------------------------------------------------

type Verb = 'replay' | 'discard';
type Status = 'replayed' | 'discarded' | 'would replay' | 'would discard' | 'gone';

interface Outcome {
  deadId: string;
  status: Status;
  /** The replayed entry's id in the channel. */
  newId?: string;
  deadLetter?: ReturnType<typeof deadLetterJson>;
}

const PAST: Record<Verb, 'replayed' | 'discarded'> = { replay: 'replayed', discard: 'discarded' };

/**
 * The dead letters a run works on, one at a time: the ids given (null for one not there), or
 * with --all every one there when the run starts. The newest id at the start bounds the walk,
 * so what is dead-lettered meanwhile (a replayed entry failing again, say) is left for later.
 */
async function* targets(channel: Channel, ids: string[] | 'all'): AsyncGenerator<{ deadId: string; deadLetter: DeadLetter | null }> {
  if (ids !== 'all') {
    for (const deadId of ids) yield { deadId, deadLetter: await channel.readDeadLetter(deadId) };
    return;
  }
  const [newest] = await channel.deadLetters(1);
  if (!newest) return;
  let after = '0-0';
  for (;;) {
    const page = await channel.deadLettersAfter(after, PAGE);
    for (const d of page) {
      if (compareStreamIds(d.id, newest.id) > 0) return;
      yield { deadId: d.id, deadLetter: d };
    }
    if (page.length < PAGE) return;
    after = page[page.length - 1]!.id;
  }
}

function progressLine(verb: Verb, o: Outcome, d: DeadLetter | null): string {
  if (o.status === 'gone' || d === null) return `${o.deadId}: already gone (replayed or discarded before)`;
  const what = `(${typeRef(d)}, original ${d.originalId || '-'}, ${plural(d.deliveries, 'delivery', 'deliveries')})`;
  if (o.status === 'would replay' || o.status === 'would discard') return `would ${verb} ${o.deadId} ${what}`;
  return o.newId ? `replayed ${o.deadId} ${what} as ${o.newId}` : `discarded ${o.deadId} ${what}`;
}

function summaryLine(verb: Verb, name: string, dryRun: boolean, outcomes: Outcome[]): string {
  const gone = outcomes.filter((o) => o.status === 'gone').length;
  const done = outcomes.length - gone;
  const of = `${done} of ${plural(outcomes.length, 'dead letter')} of ${name}${verb === 'replay' ? ' into the channel' : ''}`;
  if (dryRun) return `dry run: would ${verb} ${of}; ${gone} ${gone === 1 ? 'is' : 'are'} already gone; nothing was changed`;
  return `${PAST[verb]} ${of}; ${gone} ${gone === 1 ? 'was' : 'were'} already gone`;
}

function bulkCommand(verb: Verb, summary: string): Command {
  const usage = USAGE[verb];
  return {
    path: ['channel', verb],
    summary,
    usage,
    async run(args) {
      const options = {
        id: { type: 'string' as const, multiple: true },
        'dry-run': { type: 'boolean' as const },
        ...(verb === 'replay' ? { all: { type: 'boolean' as const }, 'max-wait': { type: 'string' as const } } : {}),
      };
      const p = parseCommandArgs(args, options, ['<channel>']);
      if (helpOr(p, usage)) return EXIT_OK;
      const v = p.values as { id?: string[]; all?: boolean; 'dry-run'?: boolean; 'max-wait'?: string; json?: boolean };
      const name = channelName(p.positionals[0]!);
      const ids = deadIds(v.id);
      if (ids.length > 0 && v.all) throw new UsageError('give either --id or --all, not both');
      if (ids.length === 0 && !v.all) throw new UsageError(verb === 'replay' ? 'say which dead letters: --id DEADID (repeatable) or --all' : 'say which dead letters: --id DEADID (repeatable)');
      const maxWaitS = v['max-wait'] === undefined ? DEFAULT_MAX_WAIT_S : seconds('--max-wait', v['max-wait']);
      const dryRun = Boolean(v['dry-run']);
      const json = Boolean(v.json);
      const say = (line: string): void => {
        if (!json) process.stdout.write(`${line}\n`);
      };

      const outcomes: Outcome[] = [];
      await withRedisChannel(name, { maxPublishWaitMs: maxWaitS * 1000 }, async (channel) => {
        try {
          for await (const { deadId, deadLetter } of targets(channel, v.all ? 'all' : ids)) {
            const o = await act(channel, verb, dryRun, deadId, deadLetter);
            outcomes.push(o);
            say(progressLine(verb, o, deadLetter));
          }
        } catch (err) {
          const done = outcomes.filter((o) => o.status === PAST[verb]).length;
          throw new Error(`${err instanceof Error ? err.message : String(err)}; ${PAST[verb]} ${done} before stopping, the rest stay in the dead-letter stream`, { cause: err });
        }
      });
      const line = summaryLine(verb, name, dryRun, outcomes);
      const gone = outcomes.filter((o) => o.status === 'gone').length;
      // done: replayed (discarded), or with --dry-run that would be.
      out(json, { channel: name, action: verb, dryRun, requested: outcomes.length, done: outcomes.length - gone, alreadyGone: gone, outcomes, summary: line }, line);
      return EXIT_OK;
    },
  };
}

async function act(channel: Channel, verb: Verb, dryRun: boolean, deadId: string, d: DeadLetter | null): Promise<Outcome> {
  if (d === null) return { deadId, status: 'gone' };
  const deadLetter = deadLetterJson(d);
  if (dryRun) return { deadId, status: `would ${verb}`, deadLetter };
  if (verb === 'discard') return (await channel.discardDeadLetter(deadId)) ? { deadId, status: 'discarded', deadLetter } : { deadId, status: 'gone' };
  const newId = await channel.replayDeadLetter(deadId);
  return newId === false ? { deadId, status: 'gone' } : { deadId, status: 'replayed', newId, deadLetter };
}

export const deadLetterCommands: Command[] = [
  dead,
  bulkCommand('replay', 'put dead letters back into their channel (atomically out of the dead-letter stream), by id or --all'),
  bulkCommand('discard', 'delete dead letters without replaying them, by id'),
];
