import { createServer, type AddressInfo, type Server } from 'node:net';

/** A TCP server on 127.0.0.1 (port 0: the OS picks one); rejects if the port is taken. */
export function listenOn(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A port nothing listens on right now, so connecting to it is refused (another process could take it; tests accept that). */
export async function freePort(): Promise<number> {
  const server = await listenOn();
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
