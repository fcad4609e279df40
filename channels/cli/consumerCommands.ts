/**
 * `hydra channel consumers | declare | undeclare`: a channel's declared consumer groups (the
 * services whose manifests consume it; docs/channels.md, "Declared consumers") beside the groups
 * that exist, and the operator's hand on the declarations: declare a consumer the node cannot
 * see (placed on a node that is not up yet), or undeclare one retired for good, which otherwise
 * keeps the channel's entries for ever and holds its producers at the high-water mark.
 * Redis channels only; strict options (exit 2 naming the bad value), `--json`.
 */
import { EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { isServiceName, SERVICE_NAME_RULE } from '../../core/ids.js';
import { renderTable } from '../../core/table.js';
import { channelName } from './deadLetterCommands.js';
import { withRedisChannel } from './redisFromEnv.js';

const USAGE = {
  consumers: 'hydra channel consumers <channel> [--json]',
  declare: 'hydra channel declare <channel> --group SERVICE [--group SERVICE]... [--json]',
  undeclare: 'hydra channel undeclare <channel> --group SERVICE [--group SERVICE]... [--json]',
};

function groupNames(raw: string[] | undefined): string[] {
  const names = [...new Set(raw ?? [])];
  if (names.length === 0) throw new UsageError('--group: none given; name the consumer group (its service name), e.g. --group parse');
  for (const name of names) if (!isServiceName(name)) throw new UsageError(`--group: '${name}' is not a service name; expected ${SERVICE_NAME_RULE}`);
  return names;
}

function out(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}

const consumers: Command = {
  path: ['channel', 'consumers'],
  summary: "a channel's consumer groups, declared and existing, with lag and pending; which declared ones hold its entries",
  usage: USAGE.consumers,
  async run(args) {
    const p = parseCommandArgs(args, {}, ['<channel>']);
    if (helpOr(p, USAGE.consumers)) return EXIT_OK;
    const name = channelName(p.positionals[0]!);
    const { declared, groups, detail, length } = await withRedisChannel(name, {}, async (channel) => {
      const [declared, groups, detail, length] = await Promise.all([channel.declaredGroups(), channel.groups(), channel.backlogDetail(), channel.length()]);
      return { declared, groups, detail, length };
    });
    const names = [...new Set([...declared, ...groups.map((g) => g.name)])].sort();
    const rows = names.map((group) => {
      const g = groups.find((x) => x.name === group);
      return { group, declared: declared.includes(group), exists: g !== undefined, lag: g ? g.lag : length, pending: g?.pending ?? 0 };
    });
    const table = renderTable(
      ['GROUP', 'DECLARED', 'EXISTS', 'LAG', 'PENDING'],
      rows.map((r) => [r.group, r.declared ? 'yes' : 'no', r.exists ? 'yes' : 'no (keeps every entry)', String(r.lag), String(r.pending)]),
    );
    const held = detail.missing.length > 0 ? `; ${detail.missing.join(', ')} declared but not started: nothing is trimmed until ${detail.missing.length === 1 ? 'it starts' : 'they start'}` : '';
    const summary = `${name}: ${length} entries, backlog ${detail.backlog}${held}`;
    out(Boolean(p.values.json), { channel: name, length, backlog: detail.backlog, missing: detail.missing, groups: rows }, rows.length === 0 ? `${summary}; no consumer group declared or existing` : `${table}\n${summary}`);
    return EXIT_OK;
  },
};

function declaration(verb: 'declare' | 'undeclare', summary: string): Command {
  return {
    path: ['channel', verb],
    summary,
    usage: USAGE[verb],
    async run(args) {
      const p = parseCommandArgs(args, { group: { type: 'string', multiple: true } }, ['<channel>']);
      if (helpOr(p, USAGE[verb])) return EXIT_OK;
      const name = channelName(p.positionals[0]!);
      const groups = groupNames(p.values.group as string[] | undefined);
      const declared = await withRedisChannel(name, {}, async (channel) => {
        if (verb === 'declare') await channel.declareGroups(groups);
        else await channel.undeclareGroups(groups);
        return channel.declaredGroups();
      });
      out(Boolean(p.values.json), { channel: name, declared }, `${verb}d ${groups.join(', ')} on ${name}; declared consumers now: ${declared.join(', ') || 'none'}`);
      return EXIT_OK;
    },
  };
}

export const consumerCommands: Command[] = [
  consumers,
  declaration('declare', 'declare consumer groups of a channel before their service runs, so its entries are kept for them'),
  declaration('undeclare', 'forget declared consumer groups of a channel (a service retired for good), so they no longer hold its entries'),
];
