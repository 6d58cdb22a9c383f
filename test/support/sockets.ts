/** Small real-socket helpers for integration tests (servers on port 0, connected pairs). */
import net from 'node:net';

export async function listen(handler: (s: net.Socket) => void, host = '127.0.0.1'): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A connected (client, accepted) pair over loopback, both half-open capable. */
export async function socketPair(): Promise<{ client: net.Socket; accepted: net.Socket; close(): void }> {
  let accepted!: net.Socket;
  const got = new Promise<void>((r) => {
    void listen((s) => {
      accepted = s;
      r();
    }).then(({ server, port }) => {
      const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      pair.client = client;
      pair.server = server;
    });
  });
  const pair: { client?: net.Socket; server?: net.Server } = {};
  await got;
  await new Promise<void>((r) => (pair.client!.connecting ? pair.client!.once('connect', () => r()) : r()));
  return { client: pair.client!, accepted, close: () => pair.server!.close() };
}

export function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

export function once<T = void>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((r) => emitter.once(event, (v: T) => r(v)));
}
