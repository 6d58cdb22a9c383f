/**
 * A test client for hostile HTTP: sends raw bytes to HOST:PORT and prints one JSON line with what came back —
 * {status: first response line or '', closed: how the connection ended ('eof'|'reset'|'timeout'), ms, bytes}.
 * PAYLOAD is base64. With DRIP_MS the payload is sent one byte every DRIP_MS (slowloris) until the server closes.
 * Usage: node raw-http.js HOST PORT PAYLOAD_BASE64 [TIMEOUT_MS] [DRIP_MS]
 */
import net from 'node:net';

const [host = '', portText = '0', payloadText = '', timeoutText = '10000', dripText] = process.argv.slice(2);
const payload = Buffer.from(payloadText, 'base64');
const started = Date.now();
let response = Buffer.alloc(0);
let done = false;
let drip: NodeJS.Timeout | undefined;

const s = net.connect({ host, port: Number(portText), allowHalfOpen: true });
const finish = (closed: string): void => {
  if (done) return;
  done = true;
  if (drip) clearInterval(drip);
  const text = response.toString('latin1');
  const status = text.includes('\r\n') ? text.slice(0, text.indexOf('\r\n')) : text;
  process.stdout.write(`${JSON.stringify({ status, closed, ms: Date.now() - started, bytes: response.length })}\n`);
  s.destroy();
};
s.setTimeout(Number(timeoutText), () => finish('timeout'));
s.on('connect', () => {
  if (dripText === undefined) {
    s.write(payload);
    return;
  }
  let at = 0;
  drip = setInterval(() => {
    if (at < payload.length && s.writable) s.write(payload.subarray(at, ++at));
  }, Number(dripText));
});
s.on('data', (c: Buffer) => (response = Buffer.concat([response, c])));
s.on('end', () => finish('eof'));
s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' ? 'reset' : (e.code ?? 'error')));
