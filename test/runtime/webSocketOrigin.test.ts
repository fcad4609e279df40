/** The WebSocket Origin rule (runtime/webSocketOrigin.ts) for each way the node's names are set. */
import t from 'tap';
import { originCheckFromEnv } from '../../runtime/webSocketOrigin.js';

t.test('node names, listed origins, and same-host when the node has no name', async (t) => {
  const named = originCheckFromEnv({ HYDRA_SERVER_NAME: 'node1.example.net', HYDRA_ALLOWED_ORIGINS: 'https://console.example.org, http://localhost:5173/' });
  t.ok(named(undefined, 'x'), 'no Origin: not a browser page');
  t.ok(named('https://node1.example.net', 'whatever'));
  t.ok(named('https://NODE1.example.net', 'whatever'), 'case-insensitive');
  t.notOk(named('https://node1.example.net:8443/x', 'whatever'), 'not an origin (a path)');
  t.ok(named('https://console.example.org', undefined), 'listed');
  t.ok(named('http://localhost:5173', undefined), 'listed, trailing slash ignored');
  t.notOk(named('https://evil.example', 'node1.example.net'), 'foreign even when Host says the node');
  const unnamed = originCheckFromEnv({ HYDRA_SERVER_NAME: '_' });
  t.ok(unnamed('https://10.0.0.5', '10.0.0.5'), 'same host as the request');
  t.notOk(unnamed('https://evil.example', '10.0.0.5'), 'another host');
  t.notOk(unnamed('https://evil.example', undefined), 'no Host to compare');
});
