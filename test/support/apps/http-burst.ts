/**
 * A test client: sends N concurrent HTTP/1.1 GET requests (one connection each) to URL and prints one JSON line
 * {statuses: {code: count}, errors: [..]} when all have finished. Usage: node http-burst.js URL N
 */
import http from 'node:http';

const [url = '', nText = '1'] = process.argv.slice(2);
const n = Number(nText);
const statuses: Record<string, number> = {};
const errors: string[] = [];
let done = 0;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
for (let i = 0; i < n; i++) {
  const req = http.get(`${url}${url.includes('?') ? '&' : '?'}i=${i}`, { agent, timeout: Number(process.env.BURST_TIMEOUT_MS ?? 30_000) }, (res) => {
    res.resume();
    res.on('end', () => {
      statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
      if (++done === n) finish();
    });
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e: NodeJS.ErrnoException) => {
    errors.push(e.code ?? e.message);
    if (++done === n) finish();
  });
}
function finish(): void {
  process.stdout.write(`${JSON.stringify({ statuses, errors })}\n`);
}
