/**
 * A test client: one TCP connection to HOST:PORT that sends SEND bytes (then FIN unless KEEP is given, in which
 * case it sends FIN only after the peer's FIN), reads until the end and prints one JSON line telling exactly how
 * it ended: {end: 'eof'|'reset'|'timeout'|'refused'|<errno>, received, head (first 40 bytes as text), afterPeerFin}
 * (`afterPeerFin`: bytes the client still sent after the peer had closed its side), and `ms` from connect() to the
 * end (a hooked connect that waits for a proxy blocks inside connect(): included). Usage:
 * node tcp-probe.js HOST PORT SEND TIMEOUT_MS [keep]
 */
import net from 'node:net';

const [host = '', portText = '0', sendText = '0', timeoutText = '5000', keep] = process.argv.slice(2);
const send = Number(sendText);
let received = 0;
let head = Buffer.alloc(0);
let afterPeerFin = 0;
let done = false;

const started = Date.now();
const s = net.connect({ host, port: Number(portText), allowHalfOpen: true });
const finish = (end: string): void => {
  if (done) return;
  done = true;
  process.stdout.write(`${JSON.stringify({ end, received, head: head.toString('latin1'), afterPeerFin, ms: Date.now() - started })}\n`);
  s.destroy();
};
s.setTimeout(Number(timeoutText), () => finish('timeout'));
s.on('connect', () => {
  if (send > 0) s.write(Buffer.alloc(send, 0x78));
  if (keep !== 'keep') s.end();
});
s.on('data', (c: Buffer) => {
  received += c.length;
  if (head.length < 40) head = Buffer.concat([head, c]).subarray(0, 40);
});
s.on('end', () => {
  if (keep === 'keep') {
    // The peer closed its side: prove the client can still send (half-close), then close ours.
    const more = Buffer.alloc(1000, 0x79);
    afterPeerFin = more.length;
    s.end(more, () => setTimeout(() => finish('eof'), 200));
    return;
  }
  finish('eof');
});
s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' ? 'reset' : e.code === 'ECONNREFUSED' ? 'refused' : (e.code ?? e.message)));
