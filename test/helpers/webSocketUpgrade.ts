/** What a WebSocket upgrade comes to: 'open' (closed again at once), or the HTTP status it was refused with. */
import WebSocket from 'ws';

export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => {
      socket.close();
      resolve('open');
    });
    socket.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // A refused upgrade also emits 'error' after 'unexpected-response': the status already says it.
    socket.once('error', () => undefined);
  });
}
