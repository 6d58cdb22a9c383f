/**
 * A small program the capture e2e tests run inside pods (`node dist/test/support/capture-peer.js <role> …`): a
 * transparent or REDIRECT listener that reports what it accepted, an outbound relay (the proxy's stand-in for
 * 15001), an app server that tells each client who it saw, and a client that reports getpeername(). Every event is
 * one JSON line on stdout, so a test can wait for it.
 */
import net from 'node:net';
import { addon } from '../../src/native/addon';
import { NativeConnector, PlainConnector } from '../../src/transport/connector';
import { origDst } from '../../src/transport/address';

type Args = Record<string, string | true>;

function parseArgs(argv: string[]): Args {
  const out: Args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
}

const strip = (a: string | undefined): string => (a && a.startsWith('::ffff:') ? a.slice(7) : a ?? '');

function families(args: Args): (4 | 6)[] {
  return args.family === '6' ? [6] : args.family === 'both' ? [4, 6] : [4];
}

async function listenOn(family: 4 | 6, port: number, transparent: boolean, mark: number, onConn: (s: net.Socket) => void): Promise<void> {
  const fd = addon().listen({ family, address: family === 4 ? '0.0.0.0' : '::', port, transparent, reusePort: false, mark, v6Only: family === 6 });
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((resolve) => server.listen({ fd }, resolve));
}

/** Reports each accepted connection's local address (its original destination under TPROXY) and answers it. */
async function tproxyListener(args: Args): Promise<void> {
  const port = Number(args.port ?? 15006);
  const redirect = args.redirect === true;
  for (const family of families(args)) {
    await listenOn(family, port, !redirect, Number(args.mark ?? 0x53a), (s) => {
      let local = `${strip(s.localAddress)}:${s.localPort}`;
      if (redirect) {
        const d = addon().getOriginalDst(fdOf(s), family);
        local = `${d.address}:${d.port}`;
      }
      const remote = `${strip(s.remoteAddress)}:${s.remotePort}`;
      emit({ event: 'accept', family, local, remote });
      s.on('error', () => undefined);
      s.end(`local=${local} remote=${remote}\n`);
    });
  }
  emit({ event: 'listening', port });
}

/**
 * The outbound listener's stand-in: accepts captured connections and relays each to its original destination
 * (local address under TPROXY, SO_ORIGINAL_DST under REDIRECT) from a socket carrying the bypass mark — or no
 * mark (`--no-mark`), when the test relies on the Istio-style UID/GID exclusion instead.
 */
async function outboundRelay(args: Args): Promise<void> {
  const port = Number(args.port ?? 15001);
  const redirect = args.redirect === true;
  const mark = args['no-mark'] ? 0 : Number(args.mark ?? 0x53a);
  const connector = mark ? new NativeConnector() : new PlainConnector();
  for (const family of families(args)) {
    await listenOn(family, port, !redirect, mark, (s) => {
      s.on('error', () => undefined);
      let dst = origDst(strip(s.localAddress), s.localPort ?? 0);
      if (redirect) {
        const d = addon().getOriginalDst(fdOf(s), family);
        dst = origDst(d.address, d.port);
      }
      emit({ event: 'relay', family, origDst: `${dst.address}:${dst.port}`, client: `${strip(s.remoteAddress)}:${s.remotePort}` });
      connector.connect({ target: dst, mark, timeoutMs: 5000 }).then(
        (up) => {
          up.on('error', () => s.destroy());
          s.pipe(up);
          up.pipe(s);
        },
        (err: Error) => {
          emit({ event: 'relay-error', error: err.message });
          s.destroy();
        },
      );
    });
  }
  emit({ event: 'listening', port });
}

/** An app server: tells each client the peer address it saw, on every port given (`--ports 8080,2222`). */
async function appServer(args: Args): Promise<void> {
  const ports = String(args.ports ?? '8080').split(',').map(Number);
  for (const port of ports) {
    for (const family of families(args)) {
      const server = net.createServer({ allowHalfOpen: true, ipv6Only: family === 6 } as net.ServerOpts, (s) => {
        s.on('error', () => undefined);
        const peer = `${strip(s.remoteAddress)}:${s.remotePort}`;
        emit({ event: 'served', port, peer });
        s.end(`peer=${peer} port=${port}\n`);
      });
      await new Promise<void>((resolve) => server.listen({ port, host: family === 4 ? '0.0.0.0' : '::', ipv6Only: family === 6 }, resolve));
    }
  }
  emit({ event: 'listening', ports });
}

/** Connects, reads everything, reports getpeername() and what arrived; exits. */
async function client(args: Args): Promise<void> {
  const host = String(args.host);
  const port = Number(args.port);
  const result = await new Promise<Record<string, unknown>>((resolve) => {
    const s = net.connect({ host, port, ...(args['local-port'] ? { localPort: Number(args['local-port']) } : {}) });
    let data = '';
    let peer = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ event: 'client', ok: false, error: 'timeout', peer, data });
    }, Number(args.timeout ?? 5000));
    s.on('connect', () => {
      peer = `${strip(s.remoteAddress)}:${s.remotePort}`;
      if (args.send) s.write(String(args.send));
    });
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => {
      clearTimeout(timer);
      resolve({ event: 'client', ok: true, peer, local: `${strip(s.localAddress)}:${s.localPort}`, data: data.trim() });
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ event: 'client', ok: false, error: err.code ?? err.message, peer, data });
    });
  });
  emit(result);
}

async function main(): Promise<void> {
  const [role, ...rest] = process.argv.slice(2);
  const args = parseArgs(rest);
  switch (role) {
    case 'tproxy-listener':
      return tproxyListener(args);
    case 'outbound-relay':
      return outboundRelay(args);
    case 'app':
      return appServer(args);
    case 'client':
      await client(args);
      process.exit(0);
      return;
    default:
      throw new Error(`unknown role ${role ?? ''}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`capture-peer: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
