/**
 * Child-process scenarios for the native data path's lifecycle and fd-exhaustion tests (run as
 * `node native-child.js <mode>`); each prints what happened on stdout, one line per event (JSON for `emfile`).
 */
import net from 'node:net';
import readline from 'node:readline';
import { isMainThread, Worker } from 'node:worker_threads';
import { addon } from '../../src/native/addon';
import { NativeAcceptor, type AcceptedConnection } from '../../src/transport/native-acceptor';
import { NativeRelay } from '../../src/transport/native-relay';
import { nativeTopology, sharedConnector } from './native-forwarder';

const mode = isMainThread ? process.argv[2] : 'worker-body';

async function activeRelay(relay: NativeRelay): Promise<void> {
  const t = await nativeTopology(relay);
  t.server.on('data', () => undefined);
  const chunk = Buffer.alloc(256 * 1024, 7);
  const pump = (): void => {
    while (t.client.write(chunk));
  };
  t.client.on('drain', pump);
  pump();
  await new Promise((r) => setTimeout(r, 100));
}

async function main(): Promise<void> {
  switch (mode) {
    case 'idle-exit': {
      new NativeRelay();
      process.stdout.write('started\n');
      return; // nothing else keeps the loop alive: the process must exit by itself
    }
    case 'outstanding': {
      const relay = new NativeRelay();
      const t = await nativeTopology(relay);
      t.session.result.then((r) => process.stdout.write(`completed ${r.end}\n`));
      t.server.on('data', () => undefined);
      t.server.on('end', () => t.server.end());
      t.client.resume();
      t.client.end('x');
      t.close();
      return;
    }
    case 'exit-active': {
      await activeRelay(new NativeRelay({ threads: 2 }));
      process.exit(0);
    }
    // falls through (process.exit does not return)
    case 'worker': {
      const w = new Worker(__filename);
      w.on('error', (err) => process.stdout.write(`worker error ${String(err)}\n`));
      w.on('exit', (code) => {
        process.stdout.write(`worker exited ${code}\n`);
      });
      return;
    }
    case 'worker-body': {
      const relay = new NativeRelay();
      await activeRelay(relay);
      const fd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
      new NativeAcceptor(fd, {}).start();
      process.exit(0); // ends this worker only: its environment is torn down under running threads and handles
    }
    // falls through
    case 'emfile':
      emfile();
      return;
    case 'origdst':
      await origDst(Number(process.argv[3]));
      return;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

// Runs under a low RLIMIT_NOFILE: holds every accepted connection (echoing), reports exhaustion, and on
// "release" lets them all go. Commands on stdin: release | cpu | stats.
function emfile(): void {
  const out = (o: object): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  const fd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
  const acceptor = new NativeAcceptor(fd, { backoffMs: 50, reportIntervalMs: 500 });
  let held: net.Socket[] = [];
  acceptor.on('connection', (c: { fd: number }) => {
    const s = new net.Socket({ fd: c.fd, readable: true, writable: true });
    s.on('data', (d) => s.write(d));
    s.on('error', () => undefined);
    held.push(s);
    out({ event: 'accepted', held: held.length });
  });
  acceptor.on('exhausted', (info) => out({ event: 'exhausted', info }));
  acceptor.start();
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'release') {
      for (const s of held) s.destroy();
      held = [];
      out({ event: 'released' });
    } else if (line === 'cpu') {
      const u = process.cpuUsage();
      out({ event: 'cpu', micros: u.user + u.system, at: Date.now() });
    } else if (line === 'stats') {
      out({ event: 'stats', stats: acceptor.stats() });
    }
  });
  out({ event: 'ready', port: addon().localAddress(fd).port });
}

// The REDIRECT baseline on the native path: listeners on `port` (v4 and v6) with SO_ORIGINAL_DST, every
// connection relayed natively to a local echo server; one JSON line per finished relay.
async function origDst(port: number): Promise<void> {
  const out = (o: object): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  const relay = new NativeRelay();
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const target = { address: '127.0.0.1', port: (echo.address() as net.AddressInfo).port, family: 4 as const };
  for (const family of [4, 6] as const) {
    const fd = addon().listen({ family, address: family === 4 ? '0.0.0.0' : '::', port, transparent: false, reusePort: false, v6Only: family === 6 });
    const acceptor = new NativeAcceptor(fd, { originalDst: true });
    acceptor.on('connection', (c: AcceptedConnection) => {
      sharedConnector()
        .connectFd({ target })
        .then(
          (up) => relay.start(c.fd, up, {}, c, (r, conn) => out({ event: 'relayed', origDst: conn.origDst, local: conn.local, remote: conn.remote, end: r.end, bytesUp: r.bytesUp })),
          () => addon().closeFd(c.fd),
        );
    });
    acceptor.start();
  }
  out({ event: 'ready' });
}

main().catch((err) => {
  process.stdout.write(`failed ${String(err)}\n`);
  process.exit(3);
});
