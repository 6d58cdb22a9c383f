/**
 * A test app: misbehaving upstreams, one TCP server (dual-stack) per `PORT:MODE[:ARG]` argument, each written on
 * raw sockets so the bytes and the way a connection ends (FIN or RST) are exactly what the test asks for. Every
 * accepted connection prints `conn PORT PEER` on stdout; `record` also prints what it received. Prints
 * `listening …` when ready. Modes:
 *  tcp-reset-mid[:N]   writes N bytes (default 65536), then resets (RST)
 *  tcp-slow:MS         waits MS, writes `slow\n`, then echoes
 *  tcp-half            writes `bye\n` and sends FIN at once, keeps reading; prints `received N PORT` at the client's FIN
 *  http-reset-mid[:N]  reads a request head, answers 200 with Content-Length 1 MiB, writes N bytes (default 65536), RST
 *  http-close-mid[:N]  the same, then FIN instead of RST (a short body)
 *  http-reset-before   reads a request head, resets
 *  http-close-before   reads a request head, FIN without an answer
 *  http-slow:MS        reads a request head, answers 200 `slow` after MS
 *  record              an HTTP/1.1 keep-alive server that answers 200 `ok` to every request head it sees and prints
 *                      `recv PORT <base64 of the bytes>` for every chunk received (what the proxy forwarded)
 */
import net from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');

function onHead(s: net.Socket, cb: () => void): void {
  let got = Buffer.alloc(0);
  const onData = (c: Buffer): void => {
    got = Buffer.concat([got, c]);
    if (got.includes(HEAD_END)) {
      s.off('data', onData);
      cb();
    }
  };
  s.on('data', onData);
}

function bodyHead(length: number): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nContent-Type: application/octet-stream\r\n\r\n`;
}

const handlers: Record<string, (s: net.Socket, port: number, arg: string | undefined) => void> = {
  'tcp-reset-mid': (s, _port, arg) => {
    s.write(Buffer.alloc(Number(arg ?? 65536), 0x61), () => setTimeout(() => s.resetAndDestroy(), 50));
  },
  'tcp-slow': (s, _port, arg) => {
    setTimeout(() => {
      if (s.destroyed) return;
      s.write('slow\n');
      s.pipe(s);
    }, Number(arg ?? 1000));
  },
  'tcp-half': (s, port) => {
    let n = 0;
    s.end('bye\n');
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => process.stdout.write(`received ${n} ${port}\n`));
  },
  'http-reset-mid': (s, _port, arg) =>
    onHead(s, () => {
      s.write(bodyHead(1 << 20));
      s.write(Buffer.alloc(Number(arg ?? 65536), 0x62), () => setTimeout(() => s.resetAndDestroy(), 50));
    }),
  'http-close-mid': (s, _port, arg) =>
    onHead(s, () => {
      s.write(bodyHead(1 << 20));
      s.end(Buffer.alloc(Number(arg ?? 65536), 0x63));
    }),
  'http-reset-before': (s) => onHead(s, () => s.resetAndDestroy()),
  'http-close-before': (s) => onHead(s, () => s.end()),
  'http-slow': (s, _port, arg) =>
    onHead(s, () =>
      setTimeout(() => {
        if (!s.destroyed) s.end(`${bodyHead(4)}slow`);
      }, Number(arg ?? 1000)),
    ),
  record: (s, port) => {
    let pending = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      process.stdout.write(`recv ${port} ${c.toString('base64')}\n`);
      pending = Buffer.concat([pending, c]);
      // Answer each request head seen (bodies of the test requests are empty or tiny and follow their head).
      for (let at = pending.indexOf(HEAD_END); at >= 0; at = pending.indexOf(HEAD_END)) {
        pending = pending.subarray(at + 4);
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  },
};

const specs = process.argv.slice(2).map((a) => {
  const [port, mode = 'record', arg] = a.split(':');
  if (!handlers[mode]) throw new Error(`unknown mode ${mode}`);
  return { port: Number(port), mode, arg };
});
let ready = 0;
for (const { port, mode, arg } of specs) {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    process.stdout.write(`conn ${port} ${(s.remoteAddress ?? '').replace(/^::ffff:/, '')}\n`);
    handlers[mode]!(s, port, arg);
  });
  server.listen({ port, host: '::', ipv6Only: false, backlog: 1024 }, () => {
    ready += 1;
    if (ready === specs.length) process.stdout.write(`listening ${specs.map((x) => x.port).join(',')}\n`);
  });
}
process.on('SIGTERM', () => process.exit(0));
