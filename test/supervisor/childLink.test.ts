/**
 * A child outlives no supervisor, whatever the moment the supervisor dies: here it is SIGKILLed
 * while the child is still starting (before the child's link, and its `disconnect` listener,
 * exist). The child must notice at link time (the channel is already closed) and exit.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { running } from './workers.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

// The supervisor: forks the worker with an IPC channel as processChild does, prints its pid and dies.
const SUPERVISOR = `
const { fork } = require('node:child_process');
const child = fork(${JSON.stringify(WORKER)}, [], {
  execArgv: ['--import', 'tsx'],
  stdio: 'ignore',
  env: { ...process.env, HYDRA_CHILD_ID: 'late#1', HYDRA_SUPERVISOR_PID: String(process.pid), WORKER_LINK_DELAY_MS: '1500' },
});
process.stdout.write(child.pid + '\\n', () => process.kill(process.pid, 'SIGKILL'));
`;

t.test('a child whose supervisor was SIGKILLed before the child linked exits when it links', async (t) => {
  const sup = spawn(process.execPath, ['-e', SUPERVISOR], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  sup.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exit = await new Promise<NodeJS.Signals | null>((resolve) => sup.once('exit', (_code, signal) => resolve(signal)));
  t.equal(exit, 'SIGKILL', 'the supervisor died by SIGKILL');
  const pid = Number(out.trim());
  t.ok(pid > 0, `the child was spawned (pid ${pid})`);
  t.teardown(() => {
    if (running(pid)) process.kill(pid, 'SIGKILL');
  });
  await waitFor(`the orphaned child ${pid} to exit`, () => !running(pid), 15_000, 50);
  t.pass('no orphan left');
});
