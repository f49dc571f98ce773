import net from 'node:net';
import t from 'tap';
import { startGateway } from '../helpers/gateway';
import { within } from '../helpers/ops';

/** Opens a connection to the admin listener and sends the first part of a request. */
function startRequest(port: number, head: string): Promise<{ socket: net.Socket; reply: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      const reply = new Promise<string>((done) => {
        let text = '';
        socket.on('data', (d: Buffer) => { text += d.toString(); });
        socket.on('close', () => done(text));
        socket.on('error', () => undefined);
      });
      resolve({ socket, reply });
    });
    socket.once('error', reject);
  });
}

t.test('a drain lets an admin API call in flight finish: a token being created is not lost with its secret', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  const dev = await gw.mint({ name: 'ops', developer: true });
  const body = JSON.stringify({ name: 'made during the drain', developer: true });
  const half = Math.floor(body.length / 2);
  const { socket, reply } = await startRequest(gw.adminPort, [
    'POST /v1/tokens HTTP/1.1', 'host: 127.0.0.1', `authorization: Bearer ${dev.secret}`,
    'content-type: application/json', `content-length: ${body.length}`, 'connection: close', '', body.slice(0, half),
  ].join('\r\n'));
  // The gateway has read the request head once it counts the call (without the fix this times out, and the call is lost).
  await within(5_000, async () => gw.gateway.runtime.inflight > 0);

  const stopped = gw.gateway.stop(5_000);
  await new Promise((r) => setTimeout(r, 300));
  socket.write(body.slice(half));
  const text = await reply;
  t.match(text, /^HTTP\/1\.1 201 /, 'the call that was in flight is answered');
  t.match(text, /"secret":"gth_/, 'with the secret');
  t.equal(await stopped, true, 'the drain finished cleanly');
});
