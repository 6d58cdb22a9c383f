/**
 * Property-based tests of the PROXY v2 codec (fast-check): encode/decode round trips, chunked decoding equals
 * one-shot decoding, and random or mutated bytes only ever produce a typed result. Each property is bounded in
 * time (about 1 s); a failure prints fast-check's seed and shrunk counterexample — turn it into a regression test
 * in proxy-protocol.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  PP2_SIGNATURE,
  PP2_TYPE,
  ProxyHeaderDecoder,
  decodeProxyHeader,
  encodeProxyHeader,
  type CallerIdentity,
  type ProxyDecodeResult,
  type Tlv,
} from '../../../src/transport/proxy-protocol';
import { ipToOctets, octetsToIp } from '../../../src/transport/ip-octets';
import { normaliseAddress } from '../../../src/transport/address';

const BUDGET = { numRuns: 3000, interruptAfterTimeLimit: 1200, markInterruptAsFailure: false };
const REASONS = new Set([
  'bad-signature', 'bad-version', 'bad-command', 'bad-family', 'oversized', 'short-address-block', 'bad-tlv', 'bad-crc32c', 'bad-caller-tlv', 'truncated',
]);

const canonical = (address: string): string => normaliseAddress(octetsToIp(ipToOctets(address)!));

const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((a) => `::ffff:${a}`));
const port = fc.integer({ min: 0, max: 65535 });
// Types the codec interprets itself (CRC32C, caller identity) are generated through their own fields.
const tlv: fc.Arbitrary<Tlv> = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== PP2_TYPE.CRC32C && (t < 0xe0 || t > 0xe2)),
  value: fc.uint8Array({ maxLength: 40 }),
});
const comm = fc.string({ minLength: 1, maxLength: 16 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 16);
const caller: fc.Arbitrary<CallerIdentity> = fc.record(
  { pid: fc.nat({ max: 0xffffffff }), uid: fc.nat({ max: 0xffffffff }), comm },
  { requiredKeys: [] },
);
const proxySpec = fc.record({
  command: fc.constant('PROXY' as const),
  transport: fc.constantFrom('STREAM' as const, 'DGRAM' as const),
  source: fc.record({ address, port }),
  destination: fc.record({ address, port }),
  tlvs: fc.array(tlv, { maxLength: 6 }),
  caller,
  crc32c: fc.boolean(),
});

function resultIsTyped(r: ProxyDecodeResult): void {
  if (r.status === 'needs-more') assert.ok(Number.isInteger(r.need) && r.need > 0);
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

test('round trip: decode(encode(spec) ++ data) gives back the spec and the data, however it is chunked', () => {
  fc.assert(
    fc.property(proxySpec, fc.uint8Array({ maxLength: 64 }), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }), (spec, data, sizes) => {
      const bytes = Buffer.concat([encodeProxyHeader(spec), data]);
      for (const r of [decodeProxyHeader(bytes), chunked(bytes, sizes)]) {
        assert.equal(r.status, 'header', JSON.stringify(r));
        if (r.status !== 'header') return;
        const h = r.header;
        assert.equal(h.command, 'PROXY');
        assert.equal(h.transport, spec.transport);
        assert.ok(h.endpoints.kind === 'inet');
        if (h.endpoints.kind !== 'inet') return;
        assert.equal(h.endpoints.source.address, canonical(spec.source.address));
        assert.equal(h.endpoints.destination.address, canonical(spec.destination.address));
        assert.equal(h.endpoints.source.port, spec.source.port);
        assert.equal(h.endpoints.destination.port, spec.destination.port);
        const v4 = ipToOctets(normaliseAddress(spec.source.address))!.length === 4 && ipToOctets(normaliseAddress(spec.destination.address))!.length === 4;
        assert.equal(h.family, v4 ? 'INET' : 'INET6');
        const plain = h.tlvs.filter((t) => t.type !== PP2_TYPE.CRC32C && (t.type < 0xe0 || t.type > 0xe2));
        assert.deepEqual(plain.map((t) => [t.type, Buffer.from(t.value).toString('hex')]), spec.tlvs.map((t) => [t.type, Buffer.from(t.value).toString('hex')]));
        assert.deepEqual({ ...h.caller }, { ...spec.caller }); // fast-check records have a null prototype
        assert.equal(h.tlvs.some((t) => t.type === PP2_TYPE.CRC32C), spec.crc32c);
        assert.deepEqual(Buffer.from(r.rest), Buffer.from(data));
      }
    }),
    BUDGET,
  );
});

test('random bytes, with or without a valid signature in front, only give typed results', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([PP2_SIGNATURE, b])),
    fc.tuple(fc.constantFrom(0x20, 0x21), fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32), fc.uint8Array({ maxLength: 300 }))
      .map(([v, f, b]) => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(b.length);
        return Buffer.concat([PP2_SIGNATURE, Buffer.from([v, f]), len, b]);
      }),
  );
  fc.assert(
    fc.property(bytes, fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 6 }), (b, sizes) => {
      const whole = decodeProxyHeader(b);
      resultIsTyped(whole);
      const inChunks = chunked(b, sizes);
      resultIsTyped(inChunks);
      // Chunking never changes the verdict on a complete input.
      if (whole.status !== 'needs-more') assert.equal(inChunks.status, whole.status);
      if (whole.status === 'error' && inChunks.status === 'error') assert.equal(inChunks.reason, whole.reason);
    }),
    BUDGET,
  );
});

test('mutated valid headers (flipped, cut, extended) only give typed results; a verified CRC means intact', () => {
  const mutation = fc.record({
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    extra: fc.uint8Array({ maxLength: 20 }),
  });
  fc.assert(
    fc.property(proxySpec, mutation, (spec, m) => {
      const original = encodeProxyHeader(spec);
      const bytes = Buffer.concat([original, m.extra]);
      for (const [at, x] of m.flips) bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ x;
      const input = m.cut === undefined ? bytes : bytes.subarray(0, m.cut % (bytes.length + 1));
      const r = decodeProxyHeader(input);
      resultIsTyped(r);
      // A header that decodes with a CRC32C TLV verified is byte for byte the one that was sent.
      if (spec.crc32c && r.status === 'header' && r.header.tlvs.some((t) => t.type === PP2_TYPE.CRC32C)) {
        assert.deepEqual(Buffer.from(input.subarray(0, r.header.length)), original, `corrupted header passed its CRC: ${input.toString('hex')}`);
      }
    }),
    BUDGET,
  );
});
