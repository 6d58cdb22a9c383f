/**
 * A test app for end-to-end integrity: both ends of deterministic pseudo-random byte streams (test/support/
 * integrity-stream.ts), each end hashing (sha256) what it sent and what it received, over raw TCP (half-close in
 * either order, full duplex) or HTTP/1.1 (a large POST body, a large response body), several streams at once.
 *
 *   node integrity.js serve PORT:tcp|PORT:http ...
 *     Prints `listening …`, then one JSON ServerReport line on stdout per finished stream.
 *   node integrity.js tcp|http HOST PORT --bytes N [--streams C] [--modes m1,m2] [--run ID] [--seed S]
 *                                         [--slow-rate BPS --slow-ms MS] [--progress-ms MS]
 *     Streams N payload bytes in total (both directions; split evenly over C concurrent streams, modes assigned in
 *     turn), prints one JSON ClientSummary line on stdout (and ClientProgress lines on stderr with --progress-ms).
 *     --slow-rate: whoever receives the large direction (the server for up/upload, the client for down/download)
 *     reads at that rate for --slow-ms, then at full speed. --progress-ms: the server also records its sending
 *     progress (ServerReport.sentAt).
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import {
  HTTP_MODES,
  PatternSource,
  planStreams,
  receivePattern,
  sendPattern,
  TCP_MODES,
  trackSent,
  type ClientProgress,
  type ClientStream,
  type ClientSummary,
  type Digest,
  type HttpMode,
  type PlannedStream,
  type Received,
  type ServerReport,
  type StreamHeader,
  type TcpMode,
} from '../integrity-stream';

const MAX_HEADER = 4096;

function report(r: ServerReport): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

function message(err: unknown): string {
  return err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
}

// ---------------------------------------------------------------------------------------------------- server

function serveTcp(socket: net.Socket): void {
  let head = Buffer.alloc(0);
  socket.on('error', () => undefined); // reported through the stream promises
  const onHead = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > MAX_HEADER) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    socket.pause();
    let h: StreamHeader;
    try {
      h = JSON.parse(head.subarray(0, nl).toString()) as StreamHeader;
    } catch {
      socket.destroy();
      return;
    }
    void runServerStream(socket, h, head.subarray(nl + 1));
  };
  socket.on('data', onHead);
}

async function runServerStream(socket: net.Socket, h: StreamHeader, initial: Buffer): Promise<void> {
  const source = new PatternSource(h.seed, h.id, 'down', h.down);
  const tracker = h.progressMs ? trackSent(source, h.progressMs) : undefined;
  const send = async (): Promise<Digest> => {
    const d = await sendPattern(socket, source);
    socket.end();
    return d;
  };
  try {
    let rx: Received;
    let tx: Digest;
    const receiving = receivePattern(socket, { initial, ...(h.slowRate ? { slowRate: h.slowRate, slowMs: h.slowMs ?? 0 } : {}) });
    socket.resume();
    switch (h.mode) {
      case 'up-then-down':
        rx = await receiving; // the client's FIN came through: only now answer
        tx = await send();
        break;
      case 'down-then-up':
        tx = await send(); // our FIN first; the client sends after it
        rx = await receiving;
        break;
      default:
        [tx, rx] = await Promise.all([send(), receiving]);
    }
    await new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
    const sentAt = tracker?.stop();
    report({ side: 'server', proto: 'tcp', id: h.id, mode: h.mode, rx: { bytes: rx.bytes, sha256: rx.sha256 }, tx, ...(rx.slow ? { slow: rx.slow } : {}), ...(sentAt ? { sentAt } : {}) });
  } catch (err) {
    tracker?.stop();
    report({ side: 'server', proto: 'tcp', id: h.id, mode: h.mode, error: message(err) });
    socket.destroy();
  }
}

function serveHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = (k: string): string => url.searchParams.get(k) ?? '';
  const id = q('id');
  const seed = q('seed');
  if (req.method === 'POST' && url.pathname === '/upload') {
    const slowRate = Number(q('slowRate') || 0);
    receivePattern(req, slowRate > 0 ? { slowRate, slowMs: Number(q('slowMs') || 0) } : {}).then(
      (rx) => {
        const digest = { bytes: rx.bytes, sha256: rx.sha256 };
        report({ side: 'server', proto: 'http', id, mode: 'upload', rx: digest, ...(rx.slow ? { slow: rx.slow } : {}) });
        const body = JSON.stringify(digest);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        report({ side: 'server', proto: 'http', id, mode: 'upload', error: message(err) });
        res.destroy();
      },
    );
    return;
  }
  if (req.method === 'GET' && url.pathname === '/download') {
    req.resume();
    const bytes = Number(q('bytes'));
    const source = new PatternSource(seed, id, 'down', bytes);
    const progressMs = Number(q('progressMs') || 0);
    const tracker = progressMs > 0 ? trackSent(source, progressMs) : undefined;
    // Alternate framings: a Content-Length body, or chunked (no length) — the proxy must carry both intact.
    res.writeHead(200, q('chunked') === '1' ? { 'content-type': 'application/octet-stream' } : { 'content-type': 'application/octet-stream', 'content-length': bytes });
    sendPattern(res, source).then(
      (tx) => {
        res.end(() => {
          const sentAt = tracker?.stop();
          report({ side: 'server', proto: 'http', id, mode: 'download', tx, ...(sentAt ? { sentAt } : {}) });
        });
      },
      (err: unknown) => {
        tracker?.stop();
        report({ side: 'server', proto: 'http', id, mode: 'download', error: message(err) });
      },
    );
    return;
  }
  req.resume();
  res.writeHead(404).end();
}

function serve(specs: readonly string[]): void {
  let ready = 0;
  for (const spec of specs) {
    const [portText = '', kind = 'tcp'] = spec.split(':');
    const port = Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || (kind !== 'tcp' && kind !== 'http')) {
      process.stderr.write(`integrity serve: expected PORT:tcp or PORT:http, got '${spec}'\n`);
      process.exit(2);
    }
    const server =
      kind === 'tcp'
        ? net.createServer({ allowHalfOpen: true, noDelay: true }, serveTcp)
        : http.createServer({ noDelay: true, requestTimeout: 0, keepAliveTimeout: 60_000 }, serveHttp);
    server.listen({ port, host: '::', ipv6Only: false, backlog: 1024 }, () => {
      ready += 1;
      if (ready === specs.length) process.stdout.write(`listening ${specs.join(',')}\n`);
    });
  }
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------- client

interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly seed: string;
  readonly slowRate: number;
  readonly slowMs: number;
  readonly progressMs: number;
  readonly counters: { sent: number; received: number };
}

function tcpStream(o: ClientOptions, plan: PlannedStream & { mode: TcpMode }): Promise<ClientStream> {
  const { id, mode, up, down } = plan;
  const header: StreamHeader = {
    id,
    mode,
    up,
    down,
    seed: o.seed,
    ...(o.slowRate > 0 && mode === 'up' ? { slowRate: o.slowRate, slowMs: o.slowMs } : {}),
    ...(o.progressMs > 0 ? { progressMs: o.progressMs } : {}),
  };
  const onSent = (n: number): void => void (o.counters.sent += n);
  const onReceived = (n: number): void => void (o.counters.received += n);
  return new Promise((resolve) => {
    const socket = net.connect({ host: o.host, port: o.port, allowHalfOpen: true, noDelay: true });
    socket.on('error', () => undefined); // reported through the stream promises
    const source = new PatternSource(o.seed, id, 'up', up);
    const send = async (): Promise<Digest> => {
      const d = await sendPattern(socket, source, onSent);
      socket.end();
      return d;
    };
    socket.once('connect', () => {
      void (async (): Promise<ClientStream> => {
        const line = `${JSON.stringify(header)}\n`;
        socket.write(line);
        const receiving = receivePattern(socket, { onReceived, ...(o.slowRate > 0 && mode === 'down' ? { slowRate: o.slowRate, slowMs: o.slowMs } : {}) });
        let tx: Digest;
        let rx: Received;
        switch (mode) {
          case 'down-then-up':
            rx = await receiving; // the server's FIN: our side must still be open for writing
            tx = await send();
            break;
          case 'up-then-down':
            tx = await send();
            rx = await receiving;
            break;
          default:
            [tx, rx] = await Promise.all([send(), receiving]);
        }
        await new Promise<void>((r) => (socket.closed ? r() : socket.once('close', () => r())));
        return { id, mode, tx, rx: { bytes: rx.bytes, sha256: rx.sha256 }, ...(rx.slow ? { slow: rx.slow } : {}), extraUp: Buffer.byteLength(line) };
      })().then(resolve, (err: unknown) => {
        socket.destroy();
        resolve({ id, mode, error: message(err) });
      });
    });
    let connected = false;
    socket.once('connect', () => (connected = true));
    socket.once('error', (err) => {
      if (!connected) resolve({ id, mode, error: message(err) }); // refused, unreachable: no stream at all
    });
  });
}

function httpStream(o: ClientOptions, agent: http.Agent, plan: PlannedStream & { mode: HttpMode }, index: number): Promise<ClientStream> {
  const { id, mode } = plan;
  const bytes = plan.up + plan.down;
  // Both framings in every run: streams 0,1 Content-Length, 2,3 chunked, and so on.
  const chunked = Math.floor(index / 2) % 2 === 1;
  const q = new URLSearchParams({ id, seed: o.seed });
  if (o.progressMs > 0) q.set('progressMs', String(o.progressMs));
  const onSent = (n: number): void => void (o.counters.sent += n);
  const onReceived = (n: number): void => void (o.counters.received += n);
  return new Promise((resolve) => {
    const fail = (err: unknown): void => resolve({ id, mode, error: message(err) });
    if (mode === 'upload') {
      if (o.slowRate > 0) {
        q.set('slowRate', String(o.slowRate));
        q.set('slowMs', String(o.slowMs));
      }
      const req = http.request({ host: o.host, port: o.port, method: 'POST', path: `/upload?${q}`, agent, headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': bytes } });
      req.on('error', fail);
      let tx: Digest | undefined;
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return fail(new Error(`status ${res.statusCode}: ${body.slice(0, 200)}`));
          if (tx === undefined) return fail(new Error('response before the body was sent'));
          resolve({ id, mode, tx, extraDown: Buffer.byteLength(body) });
        });
      });
      sendPattern(req, new PatternSource(o.seed, id, 'up', bytes), onSent).then((d) => {
        tx = d;
        req.end();
      }, fail);
      return;
    }
    q.set('bytes', String(bytes));
    if (chunked) q.set('chunked', '1');
    const req = http.get({ host: o.host, port: o.port, path: `/download?${q}`, agent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return fail(new Error(`status ${res.statusCode}`));
      }
      receivePattern(res, { onReceived, ...(o.slowRate > 0 ? { slowRate: o.slowRate, slowMs: o.slowMs } : {}) }).then(
        (rx) => resolve({ id, mode, rx: { bytes: rx.bytes, sha256: rx.sha256 }, ...(rx.slow ? { slow: rx.slow } : {}) }),
        fail,
      );
    });
    req.on('error', fail);
  });
}

async function client(proto: 'tcp' | 'http', argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      bytes: { type: 'string' },
      streams: { type: 'string', default: '4' },
      modes: { type: 'string' },
      run: { type: 'string', default: 'r' },
      seed: { type: 'string', default: 'sidelane' },
      'slow-rate': { type: 'string', default: '0' },
      'slow-ms': { type: 'string', default: '0' },
      'progress-ms': { type: 'string', default: '0' },
    },
  });
  const [host = '', portText = ''] = positionals;
  const total = Number(values.bytes);
  const streams = Number(values.streams);
  const known: readonly string[] = proto === 'tcp' ? TCP_MODES : HTTP_MODES;
  const modes = (values.modes ?? (proto === 'tcp' ? 'duplex,up-then-down,down-then-up' : 'upload,download')).split(',');
  const bad = modes.find((m) => !known.includes(m));
  if (host === '' || !(Number(portText) > 0) || !(total > 0) || !(streams > 0) || bad !== undefined) {
    process.stderr.write(`integrity ${proto}: expected HOST PORT --bytes N [--streams C] [--modes ${known.join(',')}]${bad ? `, got mode '${bad}'` : ''}\n`);
    process.exit(2);
  }
  const counters = { sent: 0, received: 0 };
  const progressMs = Number(values['progress-ms']);
  const o: ClientOptions = { host, port: Number(portText), seed: values.seed, slowRate: Number(values['slow-rate']), slowMs: Number(values['slow-ms']), progressMs, counters };
  const progress =
    progressMs > 0
      ? setInterval(() => {
          const p: ClientProgress = { t: Date.now(), sent: counters.sent, received: counters.received };
          process.stderr.write(`${JSON.stringify(p)}\n`);
        }, progressMs)
      : undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: streams });
  const started = Date.now();
  const results = await Promise.all(
    proto === 'tcp'
      ? planStreams(values.run, total, streams, modes as TcpMode[]).map((p) => tcpStream(o, p))
      : planStreams(values.run, total, streams, modes as HttpMode[]).map((p, i) => httpStream(o, agent, p, i)),
  );
  if (progress) clearInterval(progress);
  agent.destroy();
  const summary: ClientSummary = {
    streams: results,
    bytes: results.reduce((n, s) => n + (s.tx?.bytes ?? 0) + (s.rx?.bytes ?? 0), 0),
    ms: Date.now() - started,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

const [command = '', ...rest] = process.argv.slice(2);
if (command === 'serve') serve(rest);
else if (command === 'tcp' || command === 'http') void client(command, rest);
else {
  process.stderr.write('usage: integrity.js serve PORT:tcp|PORT:http ... | tcp|http HOST PORT --bytes N [options]\n');
  process.exit(2);
}
