/**
 * A test app: TCP servers (dual-stack), one per `PORT[:MODE]` argument. Prints `listening …` when all are ready.
 * Modes:
 *  echo (default)  writes `peer <address> <port>\n` (`peer <address> <port> name=<ECHO_NAME>\n` when ECHO_NAME is
 *                  set), then echoes every byte; ends its side after the client's FIN
 *  close-first     writes `bye\n` and ends its side at once, keeps reading, prints `received <n> from <peer>`
 *                  on stdout when the client's FIN arrives (proves the client could still send)
 *  reset           resets the connection (RST) when the first byte arrives
 *  raw             echoes every byte and nothing else (exact byte counts)
 *  greet           server-first: writes `220 greeting\n` at once, then echoes (SMTP/MySQL-like)
 */
import net from 'node:net';

const specs = process.argv.slice(2).map((a) => {
  const [port, mode = 'echo'] = a.split(':');
  return { port: Number(port), mode };
});
let ready = 0;
for (const { port, mode } of specs) {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    const peer = (s.remoteAddress ?? '').replace(/^::ffff:/, '');
    switch (mode) {
      case 'close-first': {
        let n = 0;
        s.end('bye\n');
        s.on('data', (c: Buffer) => (n += c.length));
        s.on('end', () => process.stdout.write(`received ${n} from ${peer}\n`));
        return;
      }
      case 'reset':
        s.once('data', () => s.resetAndDestroy());
        return;
      case 'raw':
        s.pipe(s);
        return;
      case 'greet':
        s.write('220 greeting\n');
        s.pipe(s);
        return;
      default:
        if (process.env.ECHO_LOG) process.stdout.write(`conn ${peer}\n`);
        s.write(`peer ${peer} ${s.remotePort}${process.env.ECHO_NAME ? ` name=${process.env.ECHO_NAME}` : ''}\n`);
        s.pipe(s);
    }
  });
  server.listen({ port, host: '::', ipv6Only: false, backlog: 4096 }, () => {
    ready += 1;
    if (ready === specs.length) process.stdout.write(`listening ${specs.map((x) => x.port).join(',')}\n`);
  });
}
process.on('SIGTERM', () => process.exit(0));
