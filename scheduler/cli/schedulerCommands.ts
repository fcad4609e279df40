/**
 * `hydra scheduler …`: the operator's view of the scheduler's database (DATABASE_URL) and the
 * commands that change its intent. Every command takes --json (one JSON document); without it,
 * a table or lines for people and a one-line summary. Changes are recorded in the database and
 * audited; the leader acts on them at its next tick.
 */
import type { Command } from '../../core/cli.js';
import { deployCommands } from './deployCommands.js';
import { callCommands } from './callCommand.js';
import { jobCommands } from './jobCommands.js';
import { nodesCommands } from './nodesCommands.js';
import { placeCommands } from './placeCommand.js';
import { servicesCommands } from './servicesCommands.js';

export const schedulerCommands: Command[] = [...nodesCommands, ...servicesCommands, ...placeCommands, ...deployCommands, ...jobCommands, ...callCommands];
