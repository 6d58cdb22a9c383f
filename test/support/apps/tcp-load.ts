/**
 * A test client: opens N connections (C at a time) to HOST:PORT, sends a random payload on each, half-closes,
 * reads back the `peer …` line and the echo, and checks the echo's sha256. Prints one JSON summary line:
 * {ok, failed, peers: {address: count}, bytes, errors: [...]}. Usage:
 * node tcp-load.js HOST PORT N C PAYLOAD_BYTES
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host = '', portText = '0', nText = '1', cText = '1', sizeText = '1024'] = process.argv.slice(2);
const total = Number(nText);
const concurrency = Number(cText);
const size = Number(sizeText);

interface Summary {
  ok: number;
  failed: number;
  peers: Record<string, number>;
  bytes: number;
  errors: string[];
}
const summary: Summary = { ok: 0, failed: 0, peers: {}, bytes: 0, errors: [] };

function one(): Promise<void> {
  return new Promise((resolve) => {
    const payload = randomBytes(size);
    const want = createHash('sha256').update(payload).digest('hex');
    const s = net.connect({ host, port: Number(portText), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const fail = (why: string): void => {
      summary.failed += 1;
      if (summary.errors.length < 10) summary.errors.push(why);
      s.destroy();
      resolve();
    };
    s.setTimeout(20_000, () => fail('timeout'));
    s.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    s.on('connect', () => s.end(payload));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      const nl = all.indexOf(10);
      if (nl < 0) return fail('no peer line');
      const [, peer] = all.subarray(0, nl).toString().split(' ');
      const echo = all.subarray(nl + 1);
      if (createHash('sha256').update(echo).digest('hex') !== want) return fail(`echo mismatch (${echo.length}/${size} bytes)`);
      summary.ok += 1;
      summary.bytes += echo.length;
      summary.peers[peer ?? '?'] = (summary.peers[peer ?? '?'] ?? 0) + 1;
      s.destroy();
      resolve();
    });
  });
}

async function main(): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started += 1;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}
void main();
