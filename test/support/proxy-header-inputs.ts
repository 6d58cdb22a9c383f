/**
 * fast-check generators of PROXY v2 inputs, shared by the codec's fuzz tests and the native framing's: valid header
 * specs, hostile byte strings (random, v1 text headers, unknown families and commands, any declared length) and
 * mutations of valid headers (bit flips, wrong lengths, overflowing TLVs, truncation, insertions).
 */
import fc from 'fast-check';
import { PP2_FIXED_LENGTH, PP2_SIGNATURE, PP2_TYPE, type CallerIdentity, type ProxyHeaderSpec, type Tlv } from '../../src/transport/proxy-protocol';

/** TLV types the codec interprets (and so validates) itself. */
export const INTERPRETED_TLVS: ReadonlySet<number> = new Set<number>([PP2_TYPE.CRC32C, PP2_TYPE.SIDELANE_PID, PP2_TYPE.SIDELANE_UID, PP2_TYPE.SIDELANE_COMM]);

export const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((a) => `::ffff:${a}`));
export const port = fc.integer({ min: 0, max: 65535 });
export const tlv: fc.Arbitrary<Tlv> = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((t) => !INTERPRETED_TLVS.has(t)),
  value: fc.uint8Array({ maxLength: 40 }),
});
/** Process names as Linux has them: 1-16 bytes of UTF-8, no NUL. */
export const comm = fc
  .string({ minLength: 1, maxLength: 16, unit: 'binary' })
  .filter((s) => !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s && Buffer.byteLength(s) <= 16);
export const caller: fc.Arbitrary<CallerIdentity> = fc.record(
  { pid: fc.nat({ max: 0xffffffff }), uid: fc.nat({ max: 0xffffffff }), comm },
  { requiredKeys: [] },
);
export const proxySpec = fc.record({
  command: fc.constant('PROXY' as const),
  transport: fc.constantFrom('STREAM' as const, 'DGRAM' as const),
  source: fc.record({ address, port }),
  destination: fc.record({ address, port }),
  tlvs: fc.array(tlv, { maxLength: 6 }),
  caller,
  crc32c: fc.boolean(),
});
export const localSpec = fc.record({ command: fc.constant('LOCAL' as const), tlvs: fc.array(tlv, { maxLength: 6 }), crc32c: fc.boolean() });
export const validSpec: fc.Arbitrary<ProxyHeaderSpec> = fc.oneof({ arbitrary: proxySpec, weight: 4 }, { arbitrary: localSpec, weight: 1 });

/** PROXY protocol v1 (text) headers: a v2-only port must refuse them at the first byte. */
export const v1Header = fc
  .tuple(
    fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'UDP4', ''),
    fc.oneof(fc.ipV4(), fc.ipV6()),
    fc.oneof(fc.ipV4(), fc.ipV6()),
    port,
    port,
    fc.constantFrom('\r\n', '\n', ''),
  )
  .map(([proto, src, dst, sp, dp, eol]) => Buffer.from(`PROXY ${proto} ${src} ${dst} ${sp} ${dp}${eol}`, 'latin1'));

/** The signature, a version/command byte, a family byte, a declared length (default: the real one) and a block. */
function fixedPart(verCmd: fc.Arbitrary<number>, fam: fc.Arbitrary<number>, len: fc.Arbitrary<number | undefined>, maxBlock: number): fc.Arbitrary<Buffer> {
  return fc.tuple(verCmd, fam, len, fc.uint8Array({ maxLength: maxBlock })).map(([v, f, l, b]) => {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(l ?? b.length);
    return Buffer.concat([PP2_SIGNATURE, Buffer.from([v, f]), length, b]);
  });
}

/** Byte strings that are not (or not quite) PROXY v2 headers. */
export function hostileBytes(maxLength = 300): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength }).map((b) => Buffer.from(b)),
    fc.uint8Array({ maxLength }).map((b) => Buffer.concat([PP2_SIGNATURE, b])),
    v1Header,
    v1Header.chain((h) => fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([h, b]))),
    // Known version/commands and families with the right length...
    fixedPart(fc.constantFrom(0x20, 0x21), fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32), fc.constant(undefined), maxLength),
    // ...any version/command byte and any family byte, any declared length (most overflow what follows).
    fixedPart(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }), maxLength),
    // Declared lengths around the 1024-byte default limit.
    fixedPart(fc.constantFrom(0x20, 0x21), fc.constantFrom(0x00, 0x11, 0x21), fc.integer({ min: 1000, max: 1020 }), 0),
  );
}

/** One mutation of a valid header's bytes. */
export type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set-length'; value: number }
  | { kind: 'shift-length'; by: number }
  | { kind: 'tlv-overflow'; which: number; by: number }
  | { kind: 'ver-cmd'; value: number }
  | { kind: 'family'; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set-length' as const), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ kind: fc.constant('shift-length' as const), by: fc.integer({ min: -40, max: 40 }) }),
  fc.record({ kind: fc.constant('tlv-overflow' as const), which: fc.nat(), by: fc.integer({ min: 1, max: 0xffff }) }),
  fc.record({ kind: fc.constant('ver-cmd' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('family' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

/** Offsets of the TLVs in a well-formed header (after the address block). */
function tlvOffsets(wire: Buffer): number[] {
  const fam = wire[13];
  const addressBytes = fam === 0x11 || fam === 0x12 ? 12 : fam === 0x21 || fam === 0x22 ? 36 : fam === 0x31 || fam === 0x32 ? 216 : 0;
  const out: number[] = [];
  for (let at = PP2_FIXED_LENGTH + addressBytes; at + 3 <= wire.length; at += 3 + wire.readUInt16BE(at + 1)) out.push(at);
  return out;
}

export function mutate(wire: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(wire);
  if (b.length === 0) return b;
  switch (m.kind) {
    case 'flip':
      b[m.at % b.length] = (b[m.at % b.length] ?? 0) ^ m.mask;
      return b;
    case 'set-length':
      if (b.length >= PP2_FIXED_LENGTH) b.writeUInt16BE(m.value, 14);
      return b;
    case 'shift-length':
      if (b.length >= PP2_FIXED_LENGTH) b.writeUInt16BE((b.readUInt16BE(14) + m.by + 0x10000) % 0x10000, 14);
      return b;
    case 'tlv-overflow': {
      // A TLV declares more bytes than its header has left (or wraps around): the classic length-field overflow.
      const tlvs = b.length >= PP2_FIXED_LENGTH ? tlvOffsets(b) : [];
      if (tlvs.length === 0) return b;
      const at = tlvs[m.which % tlvs.length]!;
      b.writeUInt16BE((b.readUInt16BE(at + 1) + m.by) % 0x10000, at + 1);
      return b;
    }
    case 'ver-cmd':
      if (b.length > 12) b[12] = m.value;
      return b;
    case 'family':
      if (b.length > 13) b[13] = m.value;
      return b;
    case 'cut':
      return b.subarray(0, m.at % (b.length + 1));
    case 'insert': {
      const at = m.at % (b.length + 1);
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    }
  }
}
