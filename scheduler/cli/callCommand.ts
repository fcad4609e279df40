/**
 * `hydra scheduler call SERVICE.FUNCTION [--args JSON] [--node NODE] [--timeout MS]`: an
 * operator calls a service function once, wherever an instance runs, through the function_calls
 * mailbox (scheduler/calls/), as role `operator`. Prints the node's answer; exit 1 when the call
 * failed or the function answered an error, 2 for bad usage.
 */
import { EXIT_FAILURE, EXIT_OK, UsageError, helpOr, parseCommandArgs, type Command } from '../../core/cli.js';
import { print } from '../../core/table.js';
import { callFunction, FunctionCallError } from '../calls/callFunction.js';
import { withDatabase } from './database.js';
import { cliActor, jsonValue, wholeNumber } from './options.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/** `report.compact` → ['report', 'compact']; service names may contain dots, the function is after the last. */
function splitTarget(raw: string): [string, string] {
  const dot = raw.lastIndexOf('.');
  if (dot <= 0 || dot === raw.length - 1) throw new UsageError(`'${raw}' is invalid; expected SERVICE.FUNCTION, e.g. report.compact`);
  return [raw.slice(0, dot), raw.slice(dot + 1)];
}

const call: Command = {
  path: ['scheduler', 'call'],
  summary: 'call a service function once, as an operator, on a node that runs the service',
  usage: `hydra scheduler call <service>.<function> [--args JSON] [--node NODE] [--timeout MS (default ${DEFAULT_TIMEOUT_MS})] [--json]`,
  async run(args) {
    const p = parseCommandArgs(args, { args: { type: 'string' }, node: { type: 'string' }, timeout: { type: 'string' } }, ['<service>.<function>']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const [service, fn] = splitTarget(p.positionals[0]!);
    const v = p.values as { args?: string; node?: string; timeout?: string };
    const callArgs = v.args === undefined ? {} : jsonValue('--args', v.args, 'a JSON object, e.g. {"days":30}');
    if (callArgs === null || typeof callArgs !== 'object' || Array.isArray(callArgs)) throw new UsageError(`--args: '${v.args}' is invalid; expected a JSON object, e.g. {"days":30}`);
    const timeoutMs = v.timeout === undefined ? DEFAULT_TIMEOUT_MS : wholeNumber('--timeout', v.timeout, 1);
    const json = Boolean(p.values.json);
    const started = performance.now();
    try {
      const r = await withDatabase((db) => callFunction(db, { service, fn, args: callArgs as Record<string, unknown>, timeoutMs, requestedBy: cliActor(), role: 'operator', node: v.node ?? null }));
      const ms = Math.round(performance.now() - started);
      print(json, { ok: true, ms, ...r }, `${service}.${fn} answered ${r.status} on node ${r.node} in ${ms} ms: ${JSON.stringify(r.body)}`);
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof FunctionCallError)) throw err;
      if (json) print(true, { ok: false, error: err.message, ...err.detail }, '');
      else process.stderr.write(`hydra scheduler call: ${err.message}\n`);
      return EXIT_FAILURE;
    }
  },
};

export const callCommands: Command[] = [call];
