/**
 * A stand-in for the proxy and its client in the injection e2e test, run as a process inside a pod namespace.
 * `serve`: a transparent listener on the inbound port (bypass-marked, as the proxy's) that answers with the
 * local address of each accepted connection — the original destination under TPROXY — plus a plain server on an
 * excluded port that answers "direct". `connect HOST PORT`: prints what the server at HOST:PORT says.
 */
import net from 'node:net';
import { listenTransparent } from '../../../src/transport/listener';

const BYPASS_MARK = 0x53a;

async function serve(inboundPort: number, excludedPort: number): Promise<void> {
  const captured = net.createServer((s) => s.end(`captured ${s.localAddress}:${s.localPort}\n`));
  await listenTransparent(captured, { address: '0.0.0.0', port: inboundPort, transparent: true, reusePort: false, mark: BYPASS_MARK });
  const direct = net.createServer((s) => s.end('direct\n'));
  await new Promise<void>((resolve) => direct.listen(excludedPort, '0.0.0.0', resolve));
  process.stdout.write('LISTENING\n');
}

function connect(host: string, port: number): void {
  const socket = net.connect({ host, port, timeout: 5000 });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('end', () => process.stdout.write(data));
  socket.on('timeout', () => {
    process.stderr.write(`timeout connecting to ${host}:${port}\n`);
    process.exit(3);
  });
  socket.on('error', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  });
}

if (require.main === module) {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === 'serve') {
    serve(Number(a), Number(b)).catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    });
  } else if (mode === 'connect') {
    connect(a, Number(b));
  } else {
    process.stderr.write('usage: capture-probe serve INBOUND_PORT EXCLUDED_PORT | connect HOST PORT\n');
    process.exit(2);
  }
}
