import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SidelaneError } from '../../../src/errors';
import {
  DEFAULT_MAX_HEADER_BYTES,
  PP2_SIGNATURE,
  PP2_TYPE,
  ProxyHeaderDecoder,
  crc32c,
  decodeProxyHeader,
  encodeProxyHeader,
  proxyHeaderError,
  type ProxyDecodeResult,
  type ProxyHeader,
} from '../../../src/transport/proxy-protocol';

const SIG = Buffer.from(PP2_SIGNATURE);
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function header(r: ProxyDecodeResult): { header: ProxyHeader; rest: Buffer } {
  assert.equal(r.status, 'header', `expected a header, got ${JSON.stringify(r)}`);
  return r as { status: 'header'; header: ProxyHeader; rest: Buffer };
}

function reason(r: ProxyDecodeResult): string {
  assert.equal(r.status, 'error', `expected an error, got ${JSON.stringify(r)}`);
  return (r as { reason: string }).reason;
}

// The exact bytes the hook writes for 127.0.0.1:34396 -> 198.18.9.9:80, pid 1234, uid 0, comm "curl"
// (spec 2.2: signature, 0x21 PROXY v2, 0x11 TCP4, length, addresses, ports, then TLVs type/len16/value).
const HOOK_TCP4 = hex(`
  0d0a0d0a000d0a515549540a 21 11 0021
  7f000001 c6120909 865c 0050
  e0 0004 000004d2
  e1 0004 00000000
  e2 0004 6375726c`);

test('decodes the bytes the hook writes (TCP4 with caller identity TLVs)', () => {
  const { header: h, rest } = header(decodeProxyHeader(HOOK_TCP4));
  assert.equal(h.command, 'PROXY');
  assert.equal(h.family, 'INET');
  assert.equal(h.transport, 'STREAM');
  assert.equal(h.length, HOOK_TCP4.length);
  assert.equal(rest.length, 0);
  assert.equal(h.endpoints.kind, 'inet');
  if (h.endpoints.kind !== 'inet') return;
  assert.deepEqual({ ...h.endpoints.source }, { address: '127.0.0.1', port: 34396, family: 4 });
  assert.deepEqual({ ...h.endpoints.destination }, { address: '198.18.9.9', port: 80, family: 4 });
  assert.deepEqual(h.caller, { pid: 1234, uid: 0, comm: 'curl' });
});

test('encodes the same bytes the hook writes', () => {
  const bytes = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '127.0.0.1', port: 34396 },
    destination: { address: '198.18.9.9', port: 80 },
    caller: { pid: 1234, uid: 0, comm: 'curl' },
  });
  assert.equal(bytes.toString('hex'), HOOK_TCP4.toString('hex'));
});

test('TCP6: a v6 destination with a v4-mapped loopback source (dual-stack socket)', () => {
  const bytes = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '::ffff:127.0.0.1', port: 40000 },
    destination: { address: '2001:db8::9', port: 443 },
  });
  assert.equal(bytes[13], 0x21);
  assert.equal(bytes.readUInt16BE(14), 36);
  const { header: h } = header(decodeProxyHeader(bytes));
  assert.equal(h.family, 'INET6');
  assert.ok(h.endpoints.kind === 'inet');
  if (h.endpoints.kind !== 'inet') return;
  assert.equal(h.endpoints.source.address, '127.0.0.1'); // normalised: it is a v4 flow end
  assert.equal(h.endpoints.destination.address, '2001:db8::9');
  assert.equal(h.endpoints.destination.family, 6);
  assert.equal(h.caller, undefined);
});

test('v4-mapped on both ends travels as TCP4', () => {
  const bytes = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '::ffff:10.0.0.1', port: 1 },
    destination: { address: '::ffff:198.18.9.9', port: 2 },
  });
  assert.equal(bytes[13], 0x11);
});

test('LOCAL carries no endpoints; UNSPEC PROXY neither; DGRAM is reported', () => {
  const local = header(decodeProxyHeader(encodeProxyHeader({ command: 'LOCAL' }))).header;
  assert.equal(local.command, 'LOCAL');
  assert.equal(local.family, 'UNSPEC');
  assert.equal(local.endpoints.kind, 'none');

  // LOCAL with an INET block (health checks may send it): addresses are ignored, TLVs still read.
  const localInet = Buffer.concat([SIG, hex('20 11 0013'), Buffer.alloc(12), hex('02 0004 686f7374')]);
  const li = header(decodeProxyHeader(localInet)).header;
  assert.equal(li.endpoints.kind, 'none');
  assert.deepEqual(li.tlvs.map((t) => [t.type, Buffer.from(t.value).toString()]), [[PP2_TYPE.AUTHORITY, 'host']]);

  const unspec = header(decodeProxyHeader(Buffer.concat([SIG, hex('21 00 0000')]))).header;
  assert.equal(unspec.command, 'PROXY');
  assert.equal(unspec.family, 'UNSPEC');
  assert.equal(unspec.endpoints.kind, 'none');

  const udp = encodeProxyHeader({ command: 'PROXY', transport: 'DGRAM', source: { address: '10.0.0.1', port: 5 }, destination: { address: '10.0.0.2', port: 53 } });
  assert.equal(header(decodeProxyHeader(udp)).header.transport, 'DGRAM');
});

test('UNIX family: paths, abstract names shown with @', () => {
  const src = Buffer.alloc(108);
  src.write('/run/app.sock');
  const dst = Buffer.alloc(108);
  dst.write('\0abstract');
  const bytes = Buffer.concat([SIG, hex('21 31 00d8'), src, dst]);
  const h = header(decodeProxyHeader(bytes)).header;
  assert.deepEqual(h.endpoints, { kind: 'unix', source: '/run/app.sock', destination: '@abstract' });
});

test('TLVs round-trip in order; unknown and NOOP TLVs are kept, not interpreted', () => {
  const bytes = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '10.0.0.1', port: 1 },
    destination: { address: '10.0.0.2', port: 2 },
    tlvs: [
      { type: PP2_TYPE.ALPN, value: Buffer.from('h2') },
      { type: PP2_TYPE.NOOP, value: Buffer.alloc(5) },
      { type: 0xee, value: Buffer.from([1, 2, 3]) },
    ],
    caller: { comm: 'java' },
  });
  const h = header(decodeProxyHeader(bytes)).header;
  assert.deepEqual(
    h.tlvs.map((t) => [t.type, Buffer.from(t.value).toString('hex')]),
    [
      [0x01, Buffer.from('h2').toString('hex')],
      [0x04, '0000000000'],
      [0xee, '010203'],
      [0xe2, Buffer.from('java').toString('hex')],
    ],
  );
  assert.deepEqual(h.caller, { comm: 'java' });
});

test('CRC32C: the Castagnoli check value, a valid header passes, any flipped byte fails', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const bytes = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '10.0.0.1', port: 1000 },
    destination: { address: '198.18.0.20', port: 8080 },
    caller: { pid: 7, uid: 1000, comm: 'python3' },
    crc32c: true,
  });
  const h = header(decodeProxyHeader(bytes)).header;
  assert.ok(h.tlvs.some((t) => t.type === PP2_TYPE.CRC32C));
  for (const at of [16, 20, 24, bytes.length - 6]) {
    const bad = Buffer.from(bytes);
    bad[at] = (bad[at] ?? 0) ^ 0x01;
    assert.equal(reason(decodeProxyHeader(bad)), at >= bytes.length - 7 && at < bytes.length - 4 ? 'bad-tlv' : 'bad-crc32c', `flipped byte ${at}`);
  }
});

test('incremental: byte by byte it needs more until the last byte; bytes after the header come back as rest', () => {
  const app = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  const stream = Buffer.concat([HOOK_TCP4, app]);
  const decoder = new ProxyHeaderDecoder();
  for (let i = 0; i < HOOK_TCP4.length - 1; i++) {
    const r = decoder.push(stream.subarray(i, i + 1));
    assert.equal(r.status, 'needs-more', `after ${i + 1} bytes`);
    if (r.status === 'needs-more') assert.ok(r.need >= 1 && i + 1 + r.need <= HOOK_TCP4.length, `need ${r.need} after ${i + 1}`);
  }
  const last = header(decoder.push(stream.subarray(HOOK_TCP4.length - 1)));
  assert.deepEqual(last.rest, app);
  assert.throws(() => decoder.push(Buffer.from('x')), /after the header/);
});

test('rejects a non-PROXY client at its first byte (HTTP, TLS, PROXY v1)', () => {
  assert.equal(reason(decodeProxyHeader(Buffer.from('G'))), 'bad-signature');
  assert.equal(reason(decodeProxyHeader(hex('16 0301'))), 'bad-signature');
  assert.equal(reason(decodeProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))), 'bad-signature');
  // The 5th signature byte is a NUL: a C-string comparison would stop there; we do not.
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG.subarray(0, 5), Buffer.from('x')]))), 'bad-signature');
  const r = decodeProxyHeader(Buffer.from('GET / HTTP/1.1'));
  assert.match((r as { message: string }).message, /byte 0 is 0x47, the signature has 0x0d/);
});

test('rejects bad version, command and family bytes as soon as they arrive', () => {
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('11')]))), 'bad-version');
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('22')]))), 'bad-command');
  for (const fam of ['13', '41', '10', '01', 'ff']) {
    assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex(`21 ${fam}`)]))), 'bad-family', `family byte ${fam}`);
  }
  assert.equal(decodeProxyHeader(Buffer.concat([SIG, hex('21 11')])).status, 'needs-more');
});

test('rejects oversized headers at the length field, before reading them', () => {
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('21 11 ffff')]))), 'oversized');
  const fits = Buffer.concat([SIG, hex('21 11'), Buffer.from([0x03, 0xf0])]); // 16 + 1008 = 1024
  assert.equal(decodeProxyHeader(fits).status, 'needs-more');
  assert.equal(DEFAULT_MAX_HEADER_BYTES, 1024);
  assert.equal(reason(decodeProxyHeader(HOOK_TCP4, { maxHeaderBytes: HOOK_TCP4.length - 1 })), 'oversized');
  assert.equal(decodeProxyHeader(HOOK_TCP4, { maxHeaderBytes: HOOK_TCP4.length }).status, 'header');
});

test('rejects address blocks shorter than the family needs', () => {
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('21 11 0008')]))), 'short-address-block');
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('21 21 000c')]))), 'short-address-block');
  assert.equal(reason(decodeProxyHeader(Buffer.concat([SIG, hex('21 31 0024')]))), 'short-address-block');
});

test('rejects malformed TLVs', () => {
  const base = (tlvs: string): Buffer => {
    const t = hex(tlvs);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(12 + t.length);
    return Buffer.concat([SIG, hex('21 11'), len, Buffer.alloc(12), t]);
  };
  assert.equal(reason(decodeProxyHeader(base('01 0005 6869'))), 'bad-tlv'); // value overruns the block
  assert.equal(reason(decodeProxyHeader(base('01 00'))), 'bad-tlv'); // TLV header cut
  assert.equal(reason(decodeProxyHeader(base('03 0002 0000'))), 'bad-tlv'); // CRC32C must be 4 bytes
  assert.equal(reason(decodeProxyHeader(base('e0 0002 0001'))), 'bad-caller-tlv');
  assert.equal(reason(decodeProxyHeader(base('e1 0008 0000000000000000'))), 'bad-caller-tlv');
  assert.equal(reason(decodeProxyHeader(base('e0 0004 00000001 e0 0004 00000002'))), 'bad-caller-tlv'); // twice
  assert.equal(reason(decodeProxyHeader(base('e2 0003 610062'))), 'bad-caller-tlv'); // NUL inside
  assert.equal(reason(decodeProxyHeader(base('e2 0000'))), 'bad-caller-tlv'); // empty
  assert.equal(reason(decodeProxyHeader(base(`e2 0011 ${'61'.repeat(17)}`))), 'bad-caller-tlv'); // 17 bytes
  assert.equal(header(decodeProxyHeader(base(`e2 0010 ${'61'.repeat(16)}`))).header.caller?.comm, 'a'.repeat(16));
});

test('end(): a stream that stops inside the header, or before it, is truncated', () => {
  const d = new ProxyHeaderDecoder();
  d.push(HOOK_TCP4.subarray(0, 20));
  const r = d.end();
  assert.equal(reason(r), 'truncated');
  assert.match((r as { message: string }).message, /after 20 bytes/);
  assert.equal(reason(new ProxyHeaderDecoder().end()), 'truncated');
});

test('a decode error becomes the catalogue error SIDELANE_ERR_PROXY_HEADER with its reason and context', () => {
  const r = decodeProxyHeader(Buffer.from('GET'));
  assert.equal(r.status, 'error');
  if (r.status !== 'error') return;
  const err = proxyHeaderError(r, { listener: 'outbound', peer: '127.0.0.1:5000' });
  assert.ok(err instanceof SidelaneError);
  assert.equal(err.code, 'SIDELANE_ERR_PROXY_HEADER');
  assert.deepEqual(err.context, { reason: 'bad-signature', listener: 'outbound', peer: '127.0.0.1:5000' });
});

test('encode refuses what the format cannot carry, with a typed error naming the value', () => {
  const ok = { command: 'PROXY' as const, source: { address: '10.0.0.1', port: 1 }, destination: { address: '10.0.0.2', port: 2 } };
  const bad = (spec: Parameters<typeof encodeProxyHeader>[0], re: RegExp): void =>
    assert.throws(() => encodeProxyHeader(spec), (e: unknown) => e instanceof SidelaneError && e.code === 'SIDELANE_ERR_PROXY_HEADER' && re.test(e.message));
  bad({ ...ok, destination: { address: 'example.com', port: 80 } }, /"example.com" is not an IPv4 or IPv6/);
  bad({ ...ok, destination: { address: 'fe80::1%eth0', port: 80 } }, /not an IPv4 or IPv6/);
  bad({ ...ok, source: { address: '10.0.0.1', port: 70000 } }, /source port 70000/);
  bad({ ...ok, caller: { comm: 'a'.repeat(17) } }, /1-16 bytes/);
  bad({ ...ok, caller: { pid: -1 } }, /pid -1/);
  bad({ ...ok, tlvs: [{ type: 256, value: new Uint8Array(0) }] }, /TLV type 256/);
  bad({ ...ok, tlvs: [{ type: 0xee, value: new Uint8Array(70000) }] }, /exceeds 65535/);
});
