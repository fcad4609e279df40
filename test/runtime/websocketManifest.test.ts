/**
 * The manifest's `websocket` field (runtime/validateManifest.ts): accepted when it is a literal path and
 * an onConnection function, refused with the field and the bad value otherwise.
 */
import t from 'tap';
import { defineService } from '../../runtime/sdk.js';

const base = { name: 'svc', version: '1.0.0' };
const onConnection = () => undefined;

t.test('a websocket endpoint with a literal path and onConnection is accepted', async (t) => {
  t.doesNotThrow(() => defineService({ ...base, websocket: { path: '/ws', onConnection } }));
  t.doesNotThrow(() => defineService({ ...base, websocket: { path: '/live/ws', onConnection } }));
});

t.test('a bad websocket field is a SpecError naming it and the value', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    ['ws', /^websocket: "ws" is invalid; expected an object \{ path, onConnection \}/],
    [{ path: 'ws', onConnection }, /^websocket\.path: "ws" is invalid; expected a literal path/],
    [{ path: '/', onConnection }, /^websocket\.path: "\/" is invalid/],
    [{ path: '/ws/:id', onConnection }, /^websocket\.path: "\/ws\/:id" is invalid/],
    [{ path: '/ws' }, /^websocket\.onConnection: undefined is invalid; expected a function/],
  ];
  for (const [websocket, message] of bad) t.throws(() => defineService({ ...base, websocket } as never), { name: 'SpecError', message }, JSON.stringify(websocket));
});
