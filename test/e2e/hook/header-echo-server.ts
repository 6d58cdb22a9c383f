/**
 * Test fixture standing in for the outbound listener: decodes the PROXY v2 header of every connection with
 * src/transport/proxy-protocol.ts and answers with what it carried, as JSON. Destination port 2525 plays a
 * server-first protocol (a greeting before the client sends anything); any other port plays HTTP/1.1.
 * Usage: node header-echo-server.js PORT — prints "listening" once both sockets are bound, one line per bad header.
 */
import net from 'node:net';
import { formatAddress } from '../../../src/transport/address';
import { ProxyHeaderDecoder, type ProxyHeader } from '../../../src/transport/proxy-protocol';

const port = Number(process.argv[2] ?? 15001);

function describe(h: ProxyHeader): string {
  if (h.endpoints.kind !== 'inet') return JSON.stringify({ command: h.command, family: h.family });
  return JSON.stringify({
    family: h.family,
    source: formatAddress(h.endpoints.source),
    destination: formatAddress(h.endpoints.destination),
    caller: h.caller ?? null,
  });
}

function serve(socket: net.Socket): void {
  const decoder = new ProxyHeaderDecoder();
  let header: ProxyHeader | undefined;
  let buffered = Buffer.alloc(0);
  const deadline = setTimeout(() => {
    process.stdout.write('BAD no header within 2 s\n');
    socket.destroy();
  }, 2000);
  const afterHeader = (data: Buffer): void => {
    buffered = Buffer.concat([buffered, data]);
    const h = header!;
    const body = describe(h);
    if (h.endpoints.kind === 'inet' && h.endpoints.destination.port === 2525) {
      if (buffered.includes('\n')) socket.end(`221 ${body}\r\n`);
      return;
    }
    if (buffered.includes('\r\n\r\n')) {
      socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    if (header) return afterHeader(chunk);
    const r = decoder.push(chunk);
    if (r.status === 'needs-more') return;
    clearTimeout(deadline);
    if (r.status === 'error') {
      process.stdout.write(`BAD ${r.reason}: ${r.message}\n`);
      socket.destroy();
      return;
    }
    header = r.header;
    if (header.endpoints.kind === 'inet' && header.endpoints.destination.port === 2525) socket.write('220 sidelane-test ready\r\n');
    afterHeader(r.rest);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => clearTimeout(deadline));
}

let bound = 0;
for (const host of ['0.0.0.0', '::']) {
  net.createServer(serve).listen({ host, port, ipv6Only: host === '::' }, () => {
    if (++bound === 2) process.stdout.write('listening\n');
  });
}
