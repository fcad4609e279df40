/**
 * Stack traces are kept (issue 14, finding 4): a service that crashes on an uncaught error, or
 * fails its start by throwing, logs the stack once, and the last one is shown for that child by
 * /admin/tree (lastExit.stack) and `hydra node tree`.
 */
import path from 'node:path';
import t from 'tap';
import type { NodeTreeReport } from '../../node/adminRoutes.js';
import { walk } from '../../node/metrics.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES, getJson, startNode } from './nodeProcess.js';

t.setTimeout(180_000);

const boom = (id: string, env: Record<string, string> = {}) => ({ id, module: path.join(FIXTURES, 'lightBoom.mjs'), startTimeoutMs: 20_000, env });

function find(tree: ChildInfo, p: string): ChildInfo | undefined {
  return walk(tree).find((x) => x.path === p)?.child;
}

t.test('a crash and a failed start keep their stacks: logged once, shown by /admin/tree and hydra node tree', async (t) => {
  const node = await startNode(t, { services: [boom('crasher'), boom('nostart', { BOOM_AT: 'init' })] });
  const tree = async () => (await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`)).body.tree;

  const crashed = await waitFor('crasher#1 to have crashed', async () => find(await tree(), 'services/crasher#1')?.lastExit ?? null, 60_000, 100);
  t.match(crashed.reason, /exit code 1: uncaught exception: Error: boom/, `the exit reason says why: ${crashed.reason}`);
  t.match(crashed.stack, /^Error: boom\n\s+at .*explodeLater .*lightBoom\.mjs:\d+:\d+\)/, 'the exit carries the stack');

  const failed = await waitFor('nostart#1 to have failed its start', async () => find(await tree(), 'services/nostart#1')?.lastExit ?? null, 60_000, 100);
  t.match(failed.reason, /failed to start: Error: boom at start/);
  t.match(failed.stack, /^Error: boom at start\n\s+at .*explodeOnStart /, 'the failed start carries the stack');

  const out = await waitFor('`hydra node tree` to show both stacks', async () => {
    const text = (await node.cli('node', 'tree')).stdout;
    return /services\/crasher#1 .*Error: boom[\s\S]*at .*explodeLater/.test(text) && /services\/nostart#1 .*boom at start[\s\S]*at .*explodeOnStart/.test(text) ? text : null;
  }, 30_000, 100);
  t.pass(`hydra node tree shows the last stacks:\n${out}`);

  // Logged once per crash: every crash line has the stack, and no other line repeats it.
  const lines = node.output().split('\n');
  const crashLines = lines.filter((l) => l.includes('"msg":"uncaught exception"'));
  t.ok(crashLines.length >= 1, `${crashLines.length} crash(es) logged`);
  t.ok(crashLines.every((l) => /"stack":"Error: boom\\n\s+at .*explodeLater/.test(l)), 'each crash line holds the stack');
  t.equal(lines.filter((l) => l.includes('explodeLater')).length, crashLines.length, 'the stack is logged once per crash');
  const startLines = lines.filter((l) => l.includes('"msg":"start failed"'));
  t.ok(startLines.length >= 1 && startLines.every((l) => l.includes('explodeOnStart')), 'each failed start logs its stack');
});
