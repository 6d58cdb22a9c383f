/**
 * The client of the idle-connections scenario, run as its own process in the client pod (hooked like any client):
 * opens N connections to HOST:PORT (at most BATCH connecting at once), sends one keep-alive request on each and
 * waits for its response — so every connection is established end to end, through both sidecars to nginx — then
 * prints `READY <held> <failed>` and holds them idle until stdin closes or SIGTERM. A connection that fails to open
 * is counted, not retried; once more than MAX_FAILED have failed the client gives up at once (`ERROR …`) instead
 * of waiting for every doomed connection's timeout. A held connection that is closed later is an error.
 *
 *   node idle-client.js HOST PORT N [MAX_FAILED]
 */
import net from 'node:net';

const BATCH = 128;
const CONNECT_TIMEOUT_MS = 20_000;

function fail(message: string): never {
  process.stdout.write(`ERROR ${message}\n`);
  process.exit(1);
}

/** Opens one connection and completes one request on it; resolves with the idle socket. */
function openOne(host: string, port: number, request: string, bodyEnd: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response from ${host}:${port} within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(request));
    const onData = (d: string): void => {
      received += d;
      if (received.includes('\r\n\r\n') && received.endsWith(bodyEnd)) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before the response'));
    });
  });
}

async function main(): Promise<void> {
  const [host, portText, countText, maxFailedText] = process.argv.slice(2);
  const port = Number(portText);
  const count = Number(countText);
  const maxFailed = maxFailedText === undefined ? count : Number(maxFailedText);
  if (!host || !Number.isInteger(port) || !Number.isInteger(count) || count < 1 || !Number.isInteger(maxFailed)) {
    fail('usage: idle-client HOST PORT N [MAX_FAILED]');
  }
  const request = `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const bodyEnd = 'benchmark\n';
  const sockets: net.Socket[] = [];
  let failed = 0;
  let firstError = '';
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        const socket = await openOne(host, port, request, bodyEnd);
        // An idle connection that the far side closes is a failure of the scenario, not something to ignore.
        socket.once('close', () => fail(`a held connection was closed (${sockets.length} held)`));
        sockets.push(socket);
      } catch (err) {
        failed++;
        firstError ||= err instanceof Error ? err.message : String(err);
        if (failed > maxFailed) fail(`${failed} connections failed to open (first: ${firstError}), ${sockets.length} held`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH, count) }, worker));
  if (sockets.length === 0) fail(`no connection could be opened: ${firstError}`);
  process.stdout.write(`READY ${sockets.length} ${failed}${firstError ? ` ${firstError}` : ''}\n`);
  const release = (): void => {
    for (const s of sockets) s.removeAllListeners('close').destroy();
    process.exit(0);
  };
  process.stdin.on('end', release).on('close', release).resume();
  process.once('SIGTERM', release);
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
