/**
 * A steady HTTP/1.1 keep-alive load for lifecycle tests: GET URL?i=N at a fixed rate over a pool of keep-alive
 * connections, each request numbered, until the duration ends or a `stop` line arrives on stdin (then the requests
 * in flight are awaited). With --log every finished request is one JSON line {type: 'request', i, sent, done,
 * status, name, error} (times in ms since the epoch; name: the `name` field of test/support/apps/http-echo's JSON
 * answer); at the end {type: 'summary', issued, statuses, errors, names}. No retries: what failed, failed.
 * Usage: node http-steady.js URL [--rate 100] [--connections 8] [--duration-ms 10000] [--timeout-ms 5000] [--log]
 *          [--host HOST]
 */
import http from 'node:http';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string', default: '100' },
    connections: { type: 'string', default: '8' },
    'duration-ms': { type: 'string', default: '10000' },
    'timeout-ms': { type: 'string', default: '5000' },
    host: { type: 'string' },
    log: { type: 'boolean', default: false },
  },
});
const [url] = positionals;
if (url === undefined) throw new Error('http-steady: expected a URL');
const rate = Number(values.rate);
const timeoutMs = Number(values['timeout-ms']);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.connections) });

const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
const names: Record<string, number> = {};
let issued = 0;
let inFlight = 0;
let stopping = false;
let allDone: (() => void) | undefined;

function finished(i: number, sent: number, outcome: { status?: number; name?: string; error?: string }): void {
  inFlight -= 1;
  if (outcome.status !== undefined) statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
  if (outcome.error !== undefined) errors[outcome.error] = (errors[outcome.error] ?? 0) + 1;
  if (outcome.name !== undefined) names[outcome.name] = (names[outcome.name] ?? 0) + 1;
  if (values.log) process.stdout.write(`${JSON.stringify({ type: 'request', i, sent, done: Date.now(), ...outcome })}\n`);
  if (stopping && inFlight === 0) allDone?.();
}

function one(i: number): void {
  const sent = Date.now();
  inFlight += 1;
  let settled = false;
  const settle = (o: { status?: number; name?: string; error?: string }): void => {
    if (settled) return;
    settled = true;
    finished(i, sent, o);
  };
  const req = http.get(`${url}${url.includes('?') ? '&' : '?'}i=${i}`, { agent, timeout: timeoutMs, ...(values.host ? { headers: { host: values.host } } : {}) }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      let name: string | undefined;
      try {
        name = (JSON.parse(Buffer.concat(chunks).toString()) as { name?: string }).name;
      } catch {
        name = undefined;
      }
      settle({ status: res.statusCode ?? 0, ...(name !== undefined ? { name } : {}) });
    });
    res.on('error', (e: NodeJS.ErrnoException) => settle({ error: `response ${e.code ?? e.message}` }));
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e: NodeJS.ErrnoException) => settle({ error: e.code ?? e.message }));
}

const started = Date.now();
const ticker = setInterval(() => {
  // Catch up on the schedule, so a busy loop does not lower the rate.
  const due = Math.floor(((Date.now() - started) / 1000) * rate);
  while (!stopping && issued < due) one(issued++);
}, 5);

function stop(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(ticker);
  const report = (): void => {
    process.stdout.write(`${JSON.stringify({ type: 'summary', issued, statuses, errors, names })}\n`);
    agent.destroy();
    process.exit(0);
  };
  if (inFlight === 0) report();
  else allDone = report;
}

setTimeout(stop, Number(values['duration-ms']));
process.once('SIGTERM', stop);
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'stop') stop();
});
