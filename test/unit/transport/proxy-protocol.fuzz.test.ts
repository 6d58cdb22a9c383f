/**
 * Property-based fuzzing of the PROXY v2 codec (fast-check, issue 10 "Bad input"): encode/decode round trips,
 * chunked decoding equals one-shot decoding, arbitrary specs make the encoder return bytes or throw only its typed
 * error, and random, mutated (bit flips, truncation, wrong lengths, overflowing TLVs, unknown families and
 * commands) and PROXY v1 text inputs only ever give a typed result. Each property is bounded (test/support/fuzz.ts:
 * runs or seconds, raised with SIDELANE_FUZZ_SECONDS / SIDELANE_FUZZ_RUNS); a failure prints its seed — replay it
 * with SIDELANE_FUZZ_SEED and add the bytes to the regression tests at the end of this file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SidelaneError } from '../../../src/errors';
import {
  PP2_FIXED_LENGTH,
  PP2_TYPE,
  ProxyHeaderDecoder,
  decodeProxyHeader,
  encodeProxyHeader,
  type ProxyDecodeResult,
  type ProxyHeaderSpec,
} from '../../../src/transport/proxy-protocol';
import { ipToOctets, octetsToIp } from '../../../src/transport/ip-octets';
import { normaliseAddress } from '../../../src/transport/address';
import { fuzz, fuzzTimeoutMs, type FuzzBudget } from '../../support/fuzz';
import { INTERPRETED_TLVS as INTERPRETED, address, hostileBytes, mutate, mutation, validSpec } from '../../support/proxy-header-inputs';

/** The codec decodes in microseconds: a run cap is reached long before the time limit on an idle machine. */
const BUDGET: FuzzBudget = { runs: 20_000, seconds: 6 };
const TIMEOUT = { timeout: fuzzTimeoutMs(BUDGET) };

const REASONS = new Set([
  'bad-signature', 'bad-version', 'bad-command', 'bad-family', 'oversized', 'short-address-block', 'bad-tlv', 'bad-crc32c', 'bad-caller-tlv', 'truncated',
]);

/** Chunk sizes for feeding a decoder. */
const chunking = fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 });

const canonical = (address: string): string => normaliseAddress(octetsToIp(ipToOctets(normaliseAddress(address))!));
const isV4 = (address: string): boolean => ipToOctets(normaliseAddress(address))!.length === 4;

function resultIsTyped(r: ProxyDecodeResult): void {
  if (r.status === 'needs-more') assert.ok(Number.isInteger(r.need) && r.need > 0, JSON.stringify(r));
  else if (r.status === 'error') assert.ok(REASONS.has(r.reason) && r.message.length > 0, JSON.stringify(r));
  else assert.equal(r.status, 'header');
}

/** Feeds bytes in the given chunk sizes; the first terminal result (or end()'s), with rest = all bytes after the header. */
function chunked(bytes: Uint8Array, sizes: number[]): ProxyDecodeResult {
  const d = new ProxyHeaderDecoder();
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % Math.max(1, sizes.length)] ?? 1);
    const r = d.push(bytes.subarray(at, at + size));
    at += size;
    if (r.status === 'header') return { ...r, rest: Buffer.concat([r.rest, bytes.subarray(at)]) };
    if (r.status !== 'needs-more') return r;
  }
  return d.end();
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** decode(encode(spec)) = spec: every field the spec set comes back, nothing else appears. */
function assertDecodesTo(r: ProxyDecodeResult, spec: ProxyHeaderSpec, data: Uint8Array, wire: Buffer): void {
  assert.equal(r.status, 'header', JSON.stringify(r));
  if (r.status !== 'header') return;
  const h = r.header;
  assert.equal(h.command, spec.command);
  assert.equal(h.length, wire.length);
  if (spec.command === 'PROXY') {
    const v4 = isV4(spec.source.address) && isV4(spec.destination.address);
    assert.equal(h.family, v4 ? 'INET' : 'INET6');
    assert.equal(h.transport, spec.transport ?? 'STREAM');
    assert.ok(h.endpoints.kind === 'inet');
    if (h.endpoints.kind !== 'inet') return;
    assert.equal(h.endpoints.source.address, canonical(spec.source.address));
    assert.equal(h.endpoints.destination.address, canonical(spec.destination.address));
    assert.equal(h.endpoints.source.port, spec.source.port + 0); // -0 is written as 0
    assert.equal(h.endpoints.destination.port, spec.destination.port + 0);
    // Plain objects (fast-check records have a null prototype); + 0: an id of -0 is written as 0.
    const caller = Object.fromEntries(Object.entries(spec.caller ?? {}).map(([k, v]) => [k, typeof v === 'number' ? v + 0 : v]));
    assert.deepEqual({ ...h.caller }, caller);
  } else {
    assert.deepEqual([h.family, h.transport, h.endpoints.kind, h.caller], ['UNSPEC', 'UNSPEC', 'none', undefined]);
  }
  const plain = h.tlvs.filter((t) => !INTERPRETED.has(t.type));
  // + 0: a TLV type of -0 is written (and decoded) as 0.
  assert.deepEqual(plain.map((t) => [t.type, hexOf(t.value)]), (spec.tlvs ?? []).map((t) => [t.type + 0, hexOf(t.value)]));
  assert.equal(h.tlvs.some((t) => t.type === PP2_TYPE.CRC32C), spec.crc32c === true);
  assert.equal(hexOf(r.rest), hexOf(data));
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

test('round trip: decode(encode(spec) ++ data) gives back the spec and the data, however it is chunked', TIMEOUT, (t) => {
  fuzz(
    t,
    'codec round trip',
    fc.property(validSpec, fc.uint8Array({ maxLength: 64 }), chunking, (spec, data, sizes) => {
      const wire = encodeProxyHeader(spec);
      const bytes = Buffer.concat([wire, data]);
      assertDecodesTo(decodeProxyHeader(bytes), spec, data, wire);
      assertDecodesTo(chunked(bytes, sizes), spec, data, wire);
    }),
    BUDGET,
  );
});

test('the encoder, given anything, returns decodable bytes or throws only SIDELANE_ERR_PROXY_HEADER', TIMEOUT, (t) => {
  const anyAddress = fc.oneof(
    address,
    fc.string({ maxLength: 45 }),
    fc.constantFrom('', '1.2.3', '01.2.3.4', '256.1.1.1', 'fe80::1%eth0', '[::1]', '::ffff:999.1.1.1', '1:2:3:4:5:6:7:8:9', ' 1.2.3.4'),
  );
  const anyPort = fc.oneof(fc.integer({ min: -10, max: 70_000 }), fc.double(), fc.constantFrom(Number.NaN, Infinity, 2 ** 53));
  const anyU32 = fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer({ min: -5, max: 2 ** 33 }), fc.double());
  const anyTlv = fc.record({
    type: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.constantFrom(...INTERPRETED), fc.double()),
    value: fc.oneof({ arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 20 }, { arbitrary: fc.constant(new Uint8Array(65_536)), weight: 1 }),
  });
  const manyBigTlvs = fc.integer({ min: 20, max: 24 }).map((n) => Array.from({ length: n }, (_, i) => ({ type: 0x10 + (i % 8), value: new Uint8Array(3000) })));
  const anyCaller = fc.record(
    { pid: anyU32, uid: anyU32, comm: fc.oneof(
        fc.string({ maxLength: 20, unit: 'binary' }),
        fc.string({ maxLength: 20, unit: 'binary-ascii' }),
        // Lone surrogates: JavaScript strings that have no UTF-8 form.
        fc.constantFrom('\uD800', 'a\uDC00b', 'x'.repeat(15) + '\uD83D'),
      ),
    },
    { requiredKeys: [] },
  );
  const anySpec = fc.record({
    command: fc.constantFrom('PROXY' as const, 'LOCAL' as const),
    transport: fc.constantFrom(undefined, 'STREAM' as const, 'DGRAM' as const),
    source: fc.record({ address: anyAddress, port: anyPort }),
    destination: fc.record({ address: anyAddress, port: anyPort }),
    tlvs: fc.oneof({ arbitrary: fc.array(anyTlv, { maxLength: 5 }), weight: 20 }, { arbitrary: manyBigTlvs, weight: 1 }),
    caller: fc.option(anyCaller, { nil: undefined }),
    crc32c: fc.boolean(),
  });
  fuzz(
    t,
    'codec encoder on arbitrary specs',
    fc.property(anySpec, (raw) => {
      const spec = raw as ProxyHeaderSpec;
      let wire: Buffer;
      try {
        wire = encodeProxyHeader(spec);
      } catch (err) {
        assert.ok(err instanceof SidelaneError && err.code === 'SIDELANE_ERR_PROXY_HEADER', `untyped throw: ${String(err)}`);
        assert.ok(err.message.length > 0);
        return;
      }
      const r = decodeProxyHeader(wire, { maxHeaderBytes: 65_551 });
      resultIsTyped(r);
      assert.notEqual(r.status, 'needs-more', 'the encoder wrote a whole header');
      // TLVs the codec interprets, passed in raw with arbitrary values, may be refused — never anything else.
      const rawInterpreted = (spec.tlvs ?? []).some((x) => INTERPRETED.has(x.type));
      if (!rawInterpreted) assertDecodesTo(r, spec, new Uint8Array(0), wire);
      else if (r.status === 'error') assert.ok(['bad-tlv', 'bad-crc32c', 'bad-caller-tlv'].includes(r.reason), JSON.stringify(r));
    }),
    BUDGET,
  );
});

test('random bytes, v1 text headers, unknown families and commands: typed results, chunking never changes the verdict', TIMEOUT, (t) => {
  fuzz(
    t,
    'codec random bytes',
    fc.property(hostileBytes(), chunking, (b, sizes) => {
      const whole = decodeProxyHeader(b);
      resultIsTyped(whole);
      const inChunks = chunked(b, sizes);
      resultIsTyped(inChunks);
      if (whole.status !== 'needs-more') assert.equal(inChunks.status, whole.status);
      if (whole.status === 'error' && inChunks.status === 'error') assert.equal(inChunks.reason, whole.reason);
      if (whole.status === 'header') assert.ok(whole.header.length <= b.length && whole.header.length >= PP2_FIXED_LENGTH);
      // A v1 header is never mistaken for the start of a v2 one.
      if (b[0] === 0x50) assert.deepEqual([whole.status, whole.status === 'error' && whole.reason], ['error', 'bad-signature']);
    }),
    BUDGET,
  );
});

test('mutated valid headers only give typed results; a verified CRC32C means intact; chunking agrees', TIMEOUT, (t) => {
  fuzz(
    t,
    'codec mutated headers',
    fc.property(validSpec, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 20 }), chunking, (spec, ms, extra, sizes) => {
      const original = encodeProxyHeader(spec);
      const mutated = ms.reduce((b, m) => mutate(b, m), original);
      const input = Buffer.concat([mutated, extra]);
      const r = decodeProxyHeader(input);
      resultIsTyped(r);
      const c = chunked(input, sizes);
      resultIsTyped(c);
      if (r.status !== 'needs-more') assert.equal(c.status, r.status);
      // A header that decodes with a CRC32C TLV verified is byte for byte the one that was sent.
      if (spec.crc32c && r.status === 'header' && r.header.tlvs.some((x) => x.type === PP2_TYPE.CRC32C)) {
        assert.equal(hexOf(input.subarray(0, r.header.length)), hexOf(original), `corrupted header passed its CRC: ${input.toString('hex')}`);
      }
    }),
    BUDGET,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Exhaustive: truncation at every length

test('a valid header cut at every length: needs-more with the exact count, and truncated at end of stream', () => {
  const specs: ProxyHeaderSpec[] = [
    { command: 'PROXY', source: { address: '127.0.0.1', port: 34396 }, destination: { address: '198.18.9.9', port: 80 }, caller: { pid: 1, uid: 0, comm: 'curl' } },
    { command: 'PROXY', source: { address: '2001:db8::1', port: 1 }, destination: { address: '::ffff:198.19.0.1', port: 65535 }, crc32c: true },
    { command: 'LOCAL', tlvs: [{ type: 0x04, value: new Uint8Array(5) }] },
  ];
  for (const spec of specs) {
    const wire = encodeProxyHeader(spec);
    for (let n = 0; n < wire.length; n++) {
      const r = decodeProxyHeader(wire.subarray(0, n));
      const need = n < PP2_FIXED_LENGTH ? PP2_FIXED_LENGTH - n : wire.length - n;
      assert.deepEqual(r, { status: 'needs-more', need }, `${spec.command} cut at ${n} of ${wire.length}`);
      const d = new ProxyHeaderDecoder();
      if (n > 0) assert.equal(d.push(wire.subarray(0, n)).status, 'needs-more');
      const end = d.end();
      assert.equal(end.status === 'error' && end.reason, 'truncated', `${spec.command} cut at ${n}`);
    }
    assert.equal(decodeProxyHeader(wire).status, 'header');
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Regressions: inputs fuzzing found or that the properties above must keep covering, with their exact bytes.

test('regressions: exact inputs and their verdicts', () => {
  const cases: { name: string; hex: string; status: string; reason?: string }[] = [
    { name: 'PROXY v1 TCP4 text header', hex: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n').toString('hex'), status: 'error', reason: 'bad-signature' },
    { name: 'PROXY v1 UNKNOWN', hex: Buffer.from('PROXY UNKNOWN\r\n').toString('hex'), status: 'error', reason: 'bad-signature' },
    { name: 'HTTP request on the v2 port', hex: Buffer.from('GET / HTTP/1.1\r\n').toString('hex'), status: 'error', reason: 'bad-signature' },
    { name: 'version 1 in the binary form', hex: '0d0a0d0a000d0a515549540a 11 11 000c', status: 'error', reason: 'bad-version' },
    { name: 'command 2', hex: '0d0a0d0a000d0a515549540a 22', status: 'error', reason: 'bad-command' },
    { name: 'family 0x13', hex: '0d0a0d0a000d0a515549540a 21 13', status: 'error', reason: 'bad-family' },
    { name: 'declared length 0xffff', hex: '0d0a0d0a000d0a515549540a 21 11 ffff', status: 'error', reason: 'oversized' },
    { name: 'INET with a 4-byte block', hex: '0d0a0d0a000d0a515549540a 21 11 0004 7f000001', status: 'error', reason: 'short-address-block' },
    { name: 'TLV declaring 0xffff bytes', hex: '0d0a0d0a000d0a515549540a 21 11 000f 7f000001 7f000001 0001 0002 04 ffff', status: 'error', reason: 'bad-tlv' },
    { name: 'TLV header cut after its type', hex: '0d0a0d0a000d0a515549540a 21 11 000e 7f000001 7f000001 0001 0002 04 00', status: 'error', reason: 'bad-tlv' },
    { name: 'pid TLV of 3 bytes', hex: '0d0a0d0a000d0a515549540a 21 11 0012 7f000001 7f000001 0001 0002 e0 0003 000001', status: 'error', reason: 'bad-caller-tlv' },
    { name: 'comm TLV with a NUL', hex: '0d0a0d0a000d0a515549540a 21 11 0011 7f000001 7f000001 0001 0002 e2 0002 6100', status: 'error', reason: 'bad-caller-tlv' },
    { name: 'LOCAL with an empty block', hex: '0d0a0d0a000d0a515549540a 20 00 0000', status: 'header' },
    { name: 'UNIX family, PROXY command, 216-byte block of zeros', hex: `0d0a0d0a000d0a515549540a 21 31 00d8 ${'00'.repeat(216)}`, status: 'header' },
  ];
  for (const c of cases) {
    const bytes = Buffer.from(c.hex.replace(/\s+/g, ''), 'hex');
    const r = decodeProxyHeader(bytes);
    assert.equal(r.status, c.status, `${c.name}: ${JSON.stringify(r)}`);
    if (c.reason !== undefined) assert.equal(r.status === 'error' && r.reason, c.reason, c.name);
  }
});

test('regression (fuzz): a comm with a lone surrogate is refused by the encoder, not written as U+FFFD', () => {
  const spec: ProxyHeaderSpec = {
    command: 'PROXY',
    source: { address: '::ffff:0.0.0.0', port: 0 },
    destination: { address: '::0:0:0', port: 0 },
    caller: { comm: '\ud800' },
  };
  assert.throws(() => encodeProxyHeader(spec), (err: unknown) => err instanceof SidelaneError && err.code === 'SIDELANE_ERR_PROXY_HEADER' && /UTF-8/.test(err.message));
  // A well-formed name of the same shape round-trips.
  const ok = decodeProxyHeader(encodeProxyHeader({ ...spec, caller: { comm: '\u{1F600}x' } }));
  assert.equal(ok.status === 'header' && ok.header.caller?.comm, '\u{1F600}x');
});
