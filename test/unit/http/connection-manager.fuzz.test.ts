/**
 * Fuzzes the downstream side of the HTTP connection manager through the real routing harness (issue 10 "Bad
 * input"): a client on a real socket sends generated requests — valid-ish request lines, header names and values
 * with odd bytes, Content-Length and chunked bodies cut into random chunks, pipelining, random TCP segmentation — to
 * the proxy, which routes them to a real recording upstream. A generated request is either valid by construction or
 * carries exactly one defect Node's parser (or the proxy, for a missing Host) must refuse. Properties: nothing is
 * thrown uncaught; every connection gets well-formed HTTP responses or a close (never silence); a valid request
 * reaches the upstream once with the same method, path, body (sha256) and header bytes, and its response comes back;
 * an invalid one is answered 4xx (or closed) and never reaches the upstream; no connection or fd is left behind.
 * A second property sends valid requests mangled at random (flips, cuts, insertions). Both data paths; bounded by
 * test/support/fuzz.ts budgets.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { fuzzAsync, fuzzTimeoutMs, type FuzzBudget } from '../../support/fuzz';
import { readResponses, type ResponseStream } from '../../support/http-response-reader';
import { forEachDataPath, startHarness, startUpstream, type DataPath, type Harness } from '../../support/routing';

const STRUCTURED: FuzzBudget = { runs: 3000, seconds: 10 };
const MANGLED: FuzzBudget = { runs: 3000, seconds: 6 };
/** A connection must be answered or closed within this (the proxy's request-headers timeout is 3 s here: a loaded machine may stall a client between two segments of a valid request for a while). */
const CONNECTION_DEADLINE_MS = 8000;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Requests, valid by construction (RFC 9110/9112), and the defects that make one invalid

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
/** Header names the generated extras never use: framing, hop-by-hop and the test's own. */
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'x-fuzz-id', 'x-fuzz-value', 'x-request-id']);

const chars = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((a) => a.join(''));
const pctEncoded = fc.tuple(fc.constantFrom(...'0123456789ABCDEFabcdef'), fc.constantFrom(...'0123456789ABCDEF')).map(([a, b]) => `%${a}${b}`);
const segment = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...PCHAR) }, { weight: 1, arbitrary: pctEncoded }), { maxLength: 12 }).map((a) => a.join(''));
const path = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.option(chars(`${PCHAR}/?`, 0, 20), { nil: undefined }))
  .map(([segs, query]) => `/${segs.join('/')}${query !== undefined ? `?${query}` : ''}`);
const headerName = chars(TCHAR, 1, 24).filter((n) => !RESERVED.has(n.toLowerCase()));
/** field-content: visible ASCII and obs-text (0x80-0xff), with inner spaces and tabs; no leading/trailing whitespace. */
const fieldChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  { weight: 1, arbitrary: fc.constantFrom(0x20, 0x09) },
);
const headerValue = fc
  .array(fieldChar, { maxLength: 40 })
  .map((codes) => Buffer.from(codes).toString('latin1').replace(/^[ \t]+|[ \t]+$/g, ''));

type Framing = 'none' | 'length' | 'chunked';

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  /** The value sent in x-fuzz-value (odd bytes), checked byte for byte at the upstream. */
  readonly value: string;
  readonly framing: Framing;
  readonly body: Buffer;
  /** Chunk sizes for a chunked body (cycled); extensions and a trailer for some. */
  readonly chunkSizes: readonly number[];
  readonly chunkExtension: boolean;
  readonly trailer: boolean;
}

const DEFECTS = [
  'unknown-method', 'method-char', 'path-ctl', 'path-space', 'path-high-byte', 'version', 'name-char', 'name-empty', 'value-ctl', 'value-bare-cr',
  'no-colon', 'obs-fold', 'bare-lf', 'space-before-colon', 'cl-and-te', 'two-cl', 'bad-cl', 'bad-te', 'bad-chunk-size', 'chunk-no-crlf', 'no-host',
  'oversized-headers',
] as const;
type Defect = (typeof DEFECTS)[number];

const request: fc.Arbitrary<FuzzRequest> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
    path,
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }),
    value: headerValue,
    framing: fc.constantFrom<Framing>('none', 'length', 'chunked'),
    body: fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ maxLength: 300 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 20_000 }) }),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
    chunkExtension: fc.boolean(),
    trailer: fc.boolean(),
  })
  // HEAD has no body; a body needs framing.
  .map((r) => (r.method === 'HEAD' || r.framing === 'none' ? { ...r, framing: r.method === 'HEAD' ? 'none' : r.framing, body: Buffer.alloc(0) } : { ...r, body: Buffer.from(r.body) }));

/** The bytes of a request, with `defect` applied (each defect is one Node's parser refuses, or a missing Host). */
function serialize(r: FuzzRequest, id: string, defect?: Defect, pick = 0): Buffer {
  let method = r.method;
  let target = r.path;
  let version = 'HTTP/1.1';
  const lines: string[] = [];
  if (defect !== 'no-host') lines.push('Host: web');
  lines.push(`x-fuzz-id: ${id}`);
  lines.push(`x-fuzz-value: ${r.value}`);
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`);
  let framing = r.framing;
  let body = r.body;
  // Framing defects need a body and the framing they break.
  const needs: Partial<Record<Defect, Framing>> = { 'two-cl': 'length', 'bad-cl': 'length', 'bad-te': 'chunked', 'bad-chunk-size': 'chunked', 'chunk-no-crlf': 'chunked' };
  if (defect !== undefined && (needs[defect] !== undefined || defect === 'cl-and-te')) {
    if (body.length === 0) body = Buffer.from('hello');
    framing = needs[defect] ?? (framing === 'none' ? 'length' : framing);
  }
  const at = (s: string): number => (s.length === 0 ? 0 : pick % (s.length + 1));
  const insert = (s: string, x: string): string => `${s.slice(0, at(s))}${x}${s.slice(at(s))}`;
  switch (defect) {
    case 'unknown-method':
      method = ['FUZZ', 'GETS', 'PSOT', 'get'][pick % 4]!;
      break;
    case 'method-char':
      // (Not a space: Node's parser, as RFC 9112 3 allows, reads several spaces after the method as one.)
      method = insert(method, ['@', '\x00', '/', ','][pick % 4]!);
      break;
    case 'path-ctl':
      target = `/${insert(target.slice(1), String.fromCharCode([0, 1, 0x1f, 0x7f, 9][pick % 5]!))}`;
      break;
    case 'path-space':
      target = `/${insert(target.slice(1), ' ')}x`;
      break;
    case 'path-high-byte':
      target = `/${insert(target.slice(1), String.fromCharCode(0x80 + (pick % 0x80)))}`;
      break;
    case 'version':
      version = ['HTTX/1.1', 'HTTP/1.a', 'HTTP/1.2', 'HTTP/1.1 ', 'HTTP/11'][pick % 5]!;
      break;
    case 'name-char':
      lines.push(`${insert('X-Odd', ['(', ' ', '@', '\x01', '\xe9', '"', '/'][pick % 7]!)}: v`);
      break;
    case 'name-empty':
      lines.push(': v');
      break;
    case 'value-ctl':
      lines.push(`X-Ctl: ${insert('value', String.fromCharCode([0, 1, 8, 0x0b, 0x0c, 0x1f, 0x7f][pick % 7]!))}`);
      break;
    case 'value-bare-cr':
      lines.push('X-Cr: a\rb');
      break;
    case 'no-colon':
      lines.push('X-No-Colon value');
      break;
    case 'obs-fold':
      lines.push('X-Fold: a', ' b');
      break;
    case 'space-before-colon':
      lines.push(['X-Foo : a', 'Host : web', 'Content-Length : 0'][pick % 3]!);
      break;
    case 'no-host':
      break;
    case 'oversized-headers':
      lines.push(`X-Big: ${'a'.repeat(62 * 1024)}`);
      break;
    default:
      break;
  }
  if (framing === 'length') {
    if (defect === 'cl-and-te') lines.push('Transfer-Encoding: chunked');
    lines.push(`Content-Length: ${defect === 'bad-cl' ? ['abc', '-1', `+${body.length}`, `${body.length} ${body.length}`, `0x${body.length.toString(16)}`, '99999999999999999999'][pick % 6] : body.length}`);
    if (defect === 'two-cl') lines.push(`Content-Length: ${body.length + 1}`);
  } else if (framing === 'chunked') {
    lines.push(`Transfer-Encoding: ${defect === 'bad-te' ? ['gzip', 'chunked, gzip', 'identity', 'xchunked', 'chunked\r\nTransfer-Encoding: chunked'][pick % 5] : 'chunked'}`);
    if (defect === 'cl-and-te') lines.push(`Content-Length: ${body.length}`);
  }
  const eol = defect === 'bare-lf' ? '\n' : '\r\n';
  const head = Buffer.from(`${method} ${target} ${version}${eol}${lines.join(eol)}${eol}${eol}`, 'latin1');
  if (framing === 'length') return Buffer.concat([head, body]);
  if (framing === 'none') return head;
  const parts: Buffer[] = [head];
  let offset = 0;
  for (let i = 0; offset < body.length; i++) {
    const size = Math.min(r.chunkSizes[i % r.chunkSizes.length]!, body.length - offset);
    let sizeLine = size.toString(16);
    if (defect === 'bad-chunk-size' && i === 0) sizeLine = ['ZZ', '-1', 'fffffffffffffffff', '', `${sizeLine} `][pick % 5]!;
    parts.push(Buffer.from(`${sizeLine}${r.chunkExtension ? ';ext=1;flag' : ''}\r\n`, 'latin1'), body.subarray(offset, offset + size));
    parts.push(Buffer.from(defect === 'chunk-no-crlf' && i === 0 ? 'XY' : '\r\n', 'latin1'));
    offset += size;
  }
  parts.push(Buffer.from(`0\r\n${r.trailer ? 'X-Trailer: t\r\n' : ''}\r\n`, 'latin1'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------------------------
// The recording upstream and the client

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly sha: string;
  readonly value: string | undefined;
}

interface Recorder {
  readonly port: number;
  readonly seen: Map<string, Seen[]>;
  close(): Promise<void>;
}

async function recordingUpstream(): Promise<Recorder> {
  const seen = new Map<string, Seen[]>();
  const up = await startUpstream((req: http.IncomingMessage, res: http.ServerResponse) => {
    const id = String(req.headers['x-fuzz-id'] ?? '?');
    const raw = req.rawHeaders;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'x-fuzz-value') value = raw[i + 1];
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => {
      const sha = hash.digest('hex');
      const list = seen.get(id) ?? [];
      list.push({ method: req.method ?? '', url: req.url ?? '', sha, value });
      seen.set(id, list);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id, sha }));
    });
  });
  return { port: up.port, seen, close: () => up.close() };
}

interface Conversation {
  /** Everything the proxy sent back. */
  readonly received: Buffer;
  /** The proxy closed the connection (FIN or RST) before the deadline. */
  readonly closed: boolean;
}

/** Writes `bytes` cut at `cuts` (each piece after a pause of 0-2 ms, so they leave as separate segments). */
async function writeSegmented(socket: net.Socket, bytes: Buffer, cuts: readonly number[], pauses: readonly number[]): Promise<void> {
  const points = [...new Set(cuts.map((c) => (bytes.length > 1 ? 1 + (c % (bytes.length - 1)) : 0)).filter((c) => c > 0))].sort((a, b) => a - b);
  let at = 0;
  for (const [i, end] of [...points, bytes.length].entries()) {
    if (socket.destroyed) return;
    if (end > at) socket.write(bytes.subarray(at, end));
    at = end;
    const pause = pauses[i % Math.max(1, pauses.length)] ?? 0;
    if (pause > 0) await sleep(pause);
    else await new Promise<void>((r) => setImmediate(r));
  }
}

/**
 * One client connection, driven by `drive` (it writes, and waits for the responses read so far); the connection ends
 * when the proxy closes it or the deadline passes.
 */
async function converse(
  port: number,
  drive: (c: { until(n: number): Promise<ResponseStream | undefined>; socket: net.Socket }) => Promise<void>,
  methods: string[],
): Promise<Conversation> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  const chunks: Buffer[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    wake?.();
  });
  socket.on('error', () => undefined);
  const gone = new Promise<void>((r) =>
    socket.once('close', () => {
      closed = true;
      wake?.();
      r();
    }),
  );
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  const deadline = Date.now() + CONNECTION_DEADLINE_MS;
  const until = async (n: number): Promise<ResponseStream | undefined> => {
    for (;;) {
      const parsed = readResponses(Buffer.concat(chunks), methods, closed);
      if (parsed.error !== undefined || parsed.responses.filter((x) => x.final).length >= n || closed) return parsed;
      if (Date.now() > deadline) return undefined;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
      wake = undefined;
    }
  };
  await drive({ until, socket });
  const outcome = await Promise.race([gone.then(() => true), sleep(Math.max(0, deadline - Date.now())).then(() => false)]);
  socket.destroy();
  return { received: Buffer.concat(chunks), closed: outcome };
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

interface Scenario {
  readonly requests: readonly FuzzRequest[];
  /** 'pipelined': all valid requests written at once (then segmented at random); 'sequential': one at a time. */
  readonly mode: 'pipelined' | 'sequential';
  /** A defect in the last request (sequential mode only). */
  readonly defect: Defect | undefined;
  readonly pick: number;
  readonly cuts: readonly number[];
  readonly pauses: readonly number[];
}

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    requests: fc.array(request, { minLength: 1, maxLength: 4 }),
    mode: fc.constantFrom('pipelined' as const, 'sequential' as const),
    defect: fc.option(fc.constantFrom(...DEFECTS.filter((d) => d !== 'oversized-headers')), { nil: undefined, freq: 2 }),
    oversized: fc.integer({ min: 0, max: 99 }).map((n) => n === 0),
    pick: fc.nat({ max: 1000 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
    pauses: fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 3 }),
  })
  .map(({ oversized, ...s }) => {
    const defect: Defect | undefined = oversized ? 'oversized-headers' : s.defect;
    return { ...s, defect, mode: defect !== undefined ? 'sequential' : s.mode };
  });

let nextId = 0;

interface Context {
  readonly harness: Harness;
  readonly upstream: Recorder;
  readonly uncaught: unknown[];
}

async function checkScenario(ctx: Context, s: Scenario): Promise<void> {
  const ids = s.requests.map(() => `r${++nextId}`);
  const wires = s.requests.map((r, i) => serialize(r, ids[i]!, i === s.requests.length - 1 ? s.defect : undefined, s.pick));
  const methods = s.requests.map((r) => r.method);
  const valid = s.defect === undefined ? s.requests.length : s.requests.length - 1;
  let final: ResponseStream | undefined;
  const conv = await converse(
    ctx.harness.port,
    async (c) => {
      if (s.mode === 'pipelined') {
        await writeSegmented(c.socket, Buffer.concat(wires), s.cuts, s.pauses);
        final = await c.until(valid);
      } else {
        for (let i = 0; i < wires.length; i++) {
          await writeSegmented(c.socket, wires[i]!, s.cuts, s.pauses);
          final = await c.until(i + 1);
          if (final === undefined || final.error !== undefined) return;
        }
      }
      if (s.defect === undefined) c.socket.end();
    },
    methods,
  );
  const what = `${s.mode} ${s.requests.map((r) => r.method).join(',')}${s.defect ? ` + ${s.defect}` : ''}`;
  const parsed = readResponses(conv.received, methods, conv.closed);
  assert.equal(parsed.error, undefined, `${what}: the proxy sent malformed HTTP: ${parsed.error}\n${conv.received.toString('latin1').slice(0, 400)}`);
  assert.ok(conv.closed || final !== undefined, `${what}: neither answered nor closed within ${CONNECTION_DEADLINE_MS} ms`);
  const finals = parsed.responses.filter((r) => r.final);

  // Every valid request: one upstream request with the same method, path, body and header bytes; its response back.
  for (let i = 0; i < valid; i++) {
    const r = s.requests[i]!;
    const seen = ctx.upstream.seen.get(ids[i]!) ?? [];
    assert.equal(seen.length, 1, `${what}: valid request ${i} (${r.method} ${r.path}) reached the upstream ${seen.length} times`);
    assert.deepEqual(seen[0], { method: r.method, url: r.path, sha: sha256(r.body), value: r.value }, `${what}: request ${i} changed on the way`);
    const res = finals[i];
    assert.ok(res !== undefined, `${what}: no response to valid request ${i}; got ${finals.map((x) => x.status).join(',')}`);
    assert.equal(res.status, 200, `${what}: request ${i} answered ${res.status}: ${res.body.toString('latin1').slice(0, 200)}`);
    if (r.method !== 'HEAD') assert.deepEqual(JSON.parse(res.body.toString()), { id: ids[i], sha: sha256(r.body) });
  }
  if (s.defect !== undefined) {
    const id = ids[ids.length - 1]!;
    assert.equal(ctx.upstream.seen.get(id), undefined, `${what}: an invalid request reached the upstream: ${wires[wires.length - 1]!.toString('latin1').slice(0, 300)}`);
    const answer = finals[valid];
    if (answer !== undefined) assert.ok([400, 408, 413, 431].includes(answer.status), `${what}: invalid request answered ${answer.status}`);
    assert.ok(conv.closed, `${what}: the connection stayed open after an invalid request`);
    assert.equal(finals.length, valid + (answer !== undefined ? 1 : 0), `${what}: responses after the invalid request`);
  } else {
    assert.equal(finals.length, valid, `${what}: ${finals.length} responses to ${valid} requests`);
  }
  assert.deepEqual(ctx.uncaught, [], 'nothing thrown uncaught');
}

/**
 * Ids of mangled requests carry a check tag: damage that rewrites an id into another one (a flipped digit turns m7177
 * into m7176) would otherwise read as a request delivered twice. A damaged id fails the check and is not counted.
 */
const idTag = (n: string): string => createHash('sha256').update(n).digest('hex').slice(0, 12);
const mangledId = (): string => {
  const n = String(++nextId);
  return `m${n}.${idTag(n)}`;
};
const isUndamagedId = (id: string): boolean => {
  const m = /^m(\d+)\.([0-9a-f]{12})$/.exec(id);
  return m !== null && idTag(m[1]!) === m[2];
};

/** Valid requests with random damage: whatever happens, well-formed responses or a close, and no crash. */
async function checkMangled(ctx: Context, requests: readonly FuzzRequest[], damage: { flips: [number, number][]; cut: number | undefined; insert: [number, Uint8Array] | undefined }, cuts: number[]): Promise<void> {
  const ids = requests.map(mangledId);
  let bytes = Buffer.concat(requests.map((r, i) => serialize(r, ids[i]!)));
  for (const [at, mask] of damage.flips) bytes[at % bytes.length] = bytes[at % bytes.length]! ^ mask;
  if (damage.insert) {
    const at = damage.insert[0] % (bytes.length + 1);
    bytes = Buffer.concat([bytes.subarray(0, at), damage.insert[1], bytes.subarray(at)]);
  }
  if (damage.cut !== undefined) bytes = bytes.subarray(0, damage.cut % (bytes.length + 1));
  const methods = requests.map((r) => r.method);
  const conv = await converse(
    ctx.harness.port,
    async (c) => {
      await writeSegmented(c.socket, bytes, cuts, []);
      // The client is done: its FIN ends whatever request was incomplete (flag DC) and the connection.
      c.socket.end();
    },
    methods,
  );
  assert.ok(conv.closed, `mangled: the connection was neither closed nor finished within ${CONNECTION_DEADLINE_MS} ms`);
  // Responses may answer damaged requests (a flipped method is another method; a flipped id is another id).
  const parsed = readResponses(conv.received, [], true);
  if (parsed.error !== undefined) {
    // A damaged HEAD request is the one case a body-less response may be misread by a reader that assumed GET.
    const headAware = readResponses(conv.received, methods, true);
    assert.equal(headAware.error, undefined, `mangled: malformed HTTP from the proxy: ${headAware.error}\n${conv.received.toString('latin1').slice(0, 400)}`);
  }
  for (const [id, list] of ctx.upstream.seen) {
    if (isUndamagedId(id)) assert.ok(list.length <= 1, `mangled: request ${id} reached the upstream ${list.length} times`);
  }
  assert.deepEqual(ctx.uncaught, [], 'nothing thrown uncaught');
}

function openFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd}:${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory listing's own fd
    }
  }
  return out.sort();
}

async function settle(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond() && Date.now() < until) await sleep(25);
}

async function withProxy(t: TestContext, dataPath: DataPath, body: (ctx: Context) => Promise<void>): Promise<void> {
  const fdsBefore = openFds();
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => {
    uncaught.push(err instanceof Error ? err.stack : err);
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const upstream = await recordingUpstream();
  const harness = await startHarness(
    `services:\n  - host: web\n    addresses: [198.19.0.1]\n    ports: [{port: 80, protocol: HTTP}]\n    endpoints: [{address: 127.0.0.1, port: ${upstream.port}}]\n`,
    { dst: { address: '198.19.0.1', port: 80 }, dataPath, requestHeadersTimeoutMs: 3000 },
  );
  try {
    await body({ harness, upstream, uncaught });
    // Every fuzzed connection is gone from the proxy.
    await settle(() => harness.http.connectionCount === 0 && harness.listener.activeConnections === 0);
    assert.equal(harness.http.connectionCount, 0, 'HTTP connections left in the connection manager');
    assert.equal(harness.listener.activeConnections, 0, 'downstream connections left open');
  } finally {
    await harness.close();
    await upstream.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  // The native data path keeps one relay engine per process (its eventfd/epoll), created on first use: not a leak.
  const ignore = (fds: string[]): string[] => fds.filter((f) => !/anon_inode:\[(eventfd|eventpoll)\]/.test(f));
  await settle(() => ignore(openFds()).join() === ignore(fdsBefore).join());
  assert.deepEqual(ignore(openFds()), ignore(fdsBefore), 'no fd left open after the run');
  assert.deepEqual(uncaught, [], 'nothing thrown uncaught');
  t.diagnostic(`upstream saw ${[...upstream.seen.values()].reduce((n, l) => n + l.length, 0)} requests`);
}

forEachDataPath(
  'HTTP downstream fuzz: valid requests arrive intact and answered, invalid ones are refused and never forwarded',
  async (t, dataPath) => {
    await withProxy(t, dataPath, async (ctx) => {
      await fuzzAsync(t, `http structured [${dataPath}]`, fc.asyncProperty(scenario, (s) => checkScenario(ctx, s)), STRUCTURED);
    });
  },
  { timeout: fuzzTimeoutMs(STRUCTURED, 60_000) },
);

forEachDataPath(
  'HTTP downstream fuzz: mangled requests get well-formed answers or a close, never a crash',
  async (t, dataPath) => {
    const damage = fc.record({
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 6 })), { nil: undefined }),
    });
    await withProxy(t, dataPath, async (ctx) => {
      await fuzzAsync(
        t,
        `http mangled [${dataPath}]`,
        fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 3 }), damage, fc.array(fc.nat(), { maxLength: 5 }), (rs, d, cuts) => checkMangled(ctx, rs, d, cuts)),
        MANGLED,
      );
    });
  },
  { timeout: fuzzTimeoutMs(MANGLED, 60_000) },
);

// ---------------------------------------------------------------------------------------------------------------
// Regressions: exact bytes of what the fuzzing found

forEachDataPath('regression (fuzz): a bad request or a header timeout after a finished one on a keep-alive connection does not crash the worker', async (t, dataPath) => {
  // A keep-alive connection whose first response had finished has Node's socket message set to null; the rejection
  // path read through it and threw (uncaught: the worker process died with every connection it held).
  await withProxy(t, dataPath, async (ctx) => {
    const first = 'GET /first HTTP/1.1\r\nHost: web\r\nx-fuzz-id: k1\r\n\r\n';
    for (const [second, status] of [
      ['G@T / HTTP/1.1\r\nHost: web\r\n\r\n', 400],
      [`GET / HTTP/1.1\r\nHost: web\r\nX-Big: ${'a'.repeat(62 * 1024)}\r\n\r\n`, 431],
      ['GET /slow HTTP/1.1\r\nHost: we', 408],
    ] as const) {
      const conv = await converse(
        ctx.harness.port,
        async (c) => {
          c.socket.write(first);
          assert.equal((await c.until(1))?.responses[0]?.status, 200);
          c.socket.write(second);
          await c.until(2);
        },
        ['GET', 'GET'],
      );
      const parsed = readResponses(conv.received, ['GET', 'GET'], conv.closed);
      assert.deepEqual(parsed.responses.map((r) => r.status), [200, status], JSON.stringify(second.slice(0, 40)));
      assert.ok(conv.closed, 'closed after the refusal');
      assert.deepEqual(ctx.uncaught, []);
    }
  });
});
