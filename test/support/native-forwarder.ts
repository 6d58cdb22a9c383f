/**
 * A loopback TCP forwarder built from the native data path alone (native acceptor → NativeConnector.connectFd →
 * native relay), so tests drive real sockets through exactly what the proxy runs, with no net.Socket in the middle.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { addon } from '../../src/native/addon';
import type { Family } from '../../src/transport/address';
import { NativeConnector } from '../../src/transport/connector';
import { NativeAcceptor, type NativeAcceptorOptions } from '../../src/transport/native-acceptor';
import type { NativeRelay, NativeRelayRequest } from '../../src/transport/native-relay';
import type { RelayResult } from '../../src/transport/relay';

/** One relayed connection, in accept order. */
export interface ForwardedSession {
  readonly id: number;
  readonly result: Promise<RelayResult>;
}

export interface Forwarder {
  readonly port: number;
  /** The next connection's relay (waits until it has been accepted and connected upstream). */
  next(): Promise<ForwardedSession>;
  readonly acceptor: NativeAcceptor;
  close(): void;
}

// NativeConnector owns the addon's single connect-completion callback: one per process.
let connector: NativeConnector | undefined;
export function sharedConnector(): NativeConnector {
  connector ??= new NativeConnector();
  return connector;
}

export async function nativeForwarder(
  relay: NativeRelay,
  upstreamPort: number,
  options: { family?: Family; request?: Omit<NativeRelayRequest, 'signal'>; acceptor?: NativeAcceptorOptions } = {},
): Promise<Forwarder> {
  const family = options.family ?? 4;
  const host = family === 4 ? '127.0.0.1' : '::1';
  const listenFd = addon().listen({ family, address: host, port: 0, transparent: false, reusePort: false, v6Only: family === 6 });
  const { port } = addon().localAddress(listenFd);
  const acceptor = new NativeAcceptor(listenFd, options.acceptor ?? {});
  const ready: Promise<ForwardedSession>[] = [];
  const takers: ((s: Promise<ForwardedSession>) => void)[] = [];
  acceptor.on('connection', (c: { fd: number }) => {
    const session = sharedConnector()
      .connectFd({ target: { address: host, port: upstreamPort, family } })
      .then(
        (upFd) => {
          let resolveResult!: (r: RelayResult) => void;
          const result = new Promise<RelayResult>((r) => (resolveResult = r));
          const id = relay.start(c.fd, upFd, options.request ?? {}, resolveResult, (r, done) => done(r));
          return { id, result };
        },
        (err: unknown) => {
          addon().closeFd(c.fd);
          throw err;
        },
      );
    const taker = takers.shift();
    if (taker) taker(session);
    else ready.push(session);
  });
  acceptor.start();
  return {
    port,
    acceptor,
    next: () => {
      const s = ready.shift();
      if (s) return s;
      return new Promise<ForwardedSession>((resolve, reject) => takers.push((p) => p.then(resolve, reject)));
    },
    close: () => {
      acceptor.stop();
      addon().closeFd(listenFd);
    },
  };
}

/** client ⇄ [native forwarder] ⇄ server, all real loopback sockets. */
export async function nativeTopology(
  relay: NativeRelay,
  options: { family?: Family; request?: Omit<NativeRelayRequest, 'signal'>; clientData?: Buffer } = {},
): Promise<{ client: net.Socket; server: net.Socket; session: ForwardedSession; close(): void }> {
  const family = options.family ?? 4;
  const host = family === 4 ? '127.0.0.1' : '::1';
  let accepted!: (s: net.Socket) => void;
  const serverSocket = new Promise<net.Socket>((r) => (accepted = r));
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted(s));
  await new Promise<void>((r) => server.listen(0, host, r));
  const fwd = await nativeForwarder(relay, (server.address() as net.AddressInfo).port, {
    family,
    ...(options.request ? { request: options.request } : {}),
  });
  const client = net.connect({ port: fwd.port, host, allowHalfOpen: true });
  await new Promise<void>((r, j) => {
    client.once('connect', r);
    client.once('error', j);
  });
  const session = await fwd.next();
  return {
    client,
    server: await serverSocket,
    session,
    close: () => {
      fwd.close();
      server.close();
    },
  };
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
