/**
 * PROXY protocol v2 (haproxy doc/proxy-protocol.txt, section 2.2): an encoder and a strict, incremental decoder.
 * The decoder never throws on input: every byte sequence gives "needs more", a header plus the bytes after it, or an
 * error with a reason — and it rejects as early as the first wrong byte, so a non-PROXY client is refused at once.
 * sidelane's connect() hook (native/hook/proxy_v2.h) writes these headers with caller-identity TLVs 0xE0-0xE2.
 */
import { SidelaneError } from '../errors';
import { clientAddr, normaliseAddress, origDst, type ClientAddr, type OrigDstAddr } from './address';
import { ipToOctets, octetsToIp } from './ip-octets';

export const PP2_SIGNATURE: Readonly<Uint8Array> = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** Signature, version/command, family/transport, 16-bit length. */
export const PP2_FIXED_LENGTH = 16;

/**
 * TLV types: the registered ones (spec 2.2.1-2.2.7) and sidelane's caller identity in the custom range 0xE0-0xEF.
 * The one place these numbers live on the TypeScript side; the C hook's copy is checked against it by a test.
 */
export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
  /** u32 big-endian: the pid of the process that called connect(). */
  SIDELANE_PID: 0xe0,
  /** u32 big-endian: its effective uid. */
  SIDELANE_UID: 0xe1,
  /** 1-16 bytes, no NUL: its process name (Linux comm). */
  SIDELANE_COMM: 0xe2,
} as const;

export const PP2_CUSTOM_RANGE = { min: 0xe0, max: 0xef } as const;
export const SIDELANE_COMM_MAX = 16;
/** Default bound on a whole header (fixed part + address block + TLVs); the hook's headers are at most 85 bytes. */
export const DEFAULT_MAX_HEADER_BYTES = 1024;

export type Pp2Command = 'LOCAL' | 'PROXY';
export type Pp2Family = 'UNSPEC' | 'INET' | 'INET6' | 'UNIX';
export type Pp2Transport = 'UNSPEC' | 'STREAM' | 'DGRAM';

export interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** Who opened the connection, from sidelane's TLVs; each field is present when its TLV was. */
export interface CallerIdentity {
  readonly pid?: number;
  readonly uid?: number;
  readonly comm?: string;
}

/** The ends the header names. LOCAL headers and the UNSPEC family name none: use the socket's own addresses. */
export type ProxyEndpoints =
  | { readonly kind: 'inet'; readonly source: ClientAddr; readonly destination: OrigDstAddr }
  | { readonly kind: 'unix'; readonly source: string; readonly destination: string }
  | { readonly kind: 'none' };

export interface ProxyHeader {
  readonly command: Pp2Command;
  readonly family: Pp2Family;
  readonly transport: Pp2Transport;
  readonly endpoints: ProxyEndpoints;
  /** Every TLV in order of appearance (including CRC32C and NOOP). */
  readonly tlvs: readonly Tlv[];
  readonly caller?: CallerIdentity;
  /** Bytes the header occupied on the wire. */
  readonly length: number;
}

export type ProxyHeaderErrorReason =
  | 'bad-signature'
  | 'bad-version'
  | 'bad-command'
  | 'bad-family'
  | 'oversized'
  | 'short-address-block'
  | 'bad-tlv'
  | 'bad-crc32c'
  | 'bad-caller-tlv'
  | 'truncated';

export type ProxyDecodeResult =
  /** Not enough bytes yet; at least `need` more are required. */
  | { readonly status: 'needs-more'; readonly need: number }
  /** A complete header; `rest` are the bytes that followed it (application data), possibly empty. */
  | { readonly status: 'header'; readonly header: ProxyHeader; readonly rest: Buffer }
  | { readonly status: 'error'; readonly reason: ProxyHeaderErrorReason; readonly message: string };

export interface DecodeLimits {
  /** Reject headers longer than this (default 1024). */
  readonly maxHeaderBytes?: number;
}

const FAMILY_BYTES: ReadonlyMap<number, { family: Pp2Family; transport: Pp2Transport; addressBytes: number }> = new Map([
  [0x00, { family: 'UNSPEC', transport: 'UNSPEC', addressBytes: 0 }],
  [0x11, { family: 'INET', transport: 'STREAM', addressBytes: 12 }],
  [0x12, { family: 'INET', transport: 'DGRAM', addressBytes: 12 }],
  [0x21, { family: 'INET6', transport: 'STREAM', addressBytes: 36 }],
  [0x22, { family: 'INET6', transport: 'DGRAM', addressBytes: 36 }],
  [0x31, { family: 'UNIX', transport: 'STREAM', addressBytes: 216 }],
  [0x32, { family: 'UNIX', transport: 'DGRAM', addressBytes: 216 }],
]);

const error = (reason: ProxyHeaderErrorReason, message: string): ProxyDecodeResult => ({ status: 'error', reason, message });
const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/**
 * Decodes a header from the start of `bytes`. Stateless: call again with more bytes after "needs-more" (or use
 * ProxyHeaderDecoder). Checks each fixed byte as soon as it is present.
 */
export function decodeProxyHeader(bytes: Uint8Array, limits: DecodeLimits = {}): ProxyDecodeResult {
  const max = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const n = bytes.length;
  for (let i = 0; i < Math.min(n, PP2_SIGNATURE.length); i++) {
    if (bytes[i] !== PP2_SIGNATURE[i]) {
      return error('bad-signature', `not a PROXY v2 header: byte ${i} is ${hex(bytes[i] ?? 0)}, the signature has ${hex(PP2_SIGNATURE[i] ?? 0)}`);
    }
  }
  if (n > 12) {
    const verCmd = bytes[12] ?? 0;
    if (verCmd >> 4 !== 2) return error('bad-version', `PROXY protocol version ${verCmd >> 4}, expected 2 (byte 12 is ${hex(verCmd)})`);
    if ((verCmd & 0x0f) > 1) return error('bad-command', `PROXY v2 command ${verCmd & 0x0f}, expected 0 (LOCAL) or 1 (PROXY)`);
  }
  if (n > 13 && !FAMILY_BYTES.has(bytes[13] ?? 0)) {
    return error('bad-family', `PROXY v2 family/transport byte ${hex(bytes[13] ?? 0)}, expected one of 00 11 12 21 22 31 32`);
  }
  if (n < PP2_FIXED_LENGTH) return { status: 'needs-more', need: PP2_FIXED_LENGTH - n };

  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const command: Pp2Command = ((view[12] ?? 0) & 0x0f) === 1 ? 'PROXY' : 'LOCAL';
  const fam = FAMILY_BYTES.get(view[13] ?? 0)!;
  const blockLength = view.readUInt16BE(14);
  const total = PP2_FIXED_LENGTH + blockLength;
  if (total > max) return error('oversized', `PROXY v2 header of ${total} bytes exceeds the limit of ${max}`);
  if (blockLength < fam.addressBytes) {
    return error('short-address-block', `PROXY v2 ${fam.family} header declares ${blockLength} bytes, its addresses alone need ${fam.addressBytes}`);
  }
  if (n < total) return { status: 'needs-more', need: total - n };

  const block = view.subarray(PP2_FIXED_LENGTH, total);
  const tlvResult = parseTlvs(view.subarray(0, total), fam.addressBytes);
  if ('reason' in tlvResult) return error(tlvResult.reason, tlvResult.message);

  let endpoints: ProxyEndpoints = { kind: 'none' };
  if (command === 'PROXY' && (fam.family === 'INET' || fam.family === 'INET6')) {
    const width = fam.family === 'INET' ? 4 : 16;
    const src = octetsToIp(block.subarray(0, width));
    const dst = octetsToIp(block.subarray(width, 2 * width));
    const sport = block.readUInt16BE(2 * width);
    const dport = block.readUInt16BE(2 * width + 2);
    endpoints = { kind: 'inet', source: clientAddr(src, sport), destination: origDst(dst, dport) };
  } else if (command === 'PROXY' && fam.family === 'UNIX') {
    endpoints = { kind: 'unix', source: unixPath(block.subarray(0, 108)), destination: unixPath(block.subarray(108, 216)) };
  }
  const header: ProxyHeader = {
    command,
    family: fam.family,
    transport: fam.transport,
    endpoints,
    tlvs: tlvResult.tlvs,
    ...(tlvResult.caller ? { caller: tlvResult.caller } : {}),
    length: total,
  };
  return { status: 'header', header, rest: view.subarray(total) };
}

/** A path from a 108-byte sun_path; abstract names (leading NUL) are shown with a leading '@'. */
function unixPath(raw: Buffer): string {
  if (raw[0] === 0) {
    const end = raw.indexOf(0, 1);
    return `@${raw.subarray(1, end < 0 ? raw.length : end).toString('utf8')}`;
  }
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

type TlvParse =
  | { tlvs: Tlv[]; caller: CallerIdentity | undefined }
  | { reason: ProxyHeaderErrorReason; message: string };

function parseTlvs(header: Buffer, addressBytes: number): TlvParse {
  const tlvs: Tlv[] = [];
  let offset = PP2_FIXED_LENGTH + addressBytes;
  let crcAt = -1;
  const caller: { pid?: number; uid?: number; comm?: string } = {};
  while (offset < header.length) {
    if (offset + 3 > header.length) {
      return { reason: 'bad-tlv', message: `PROXY v2 TLV at byte ${offset} is cut off (${header.length - offset} of 3 header bytes)` };
    }
    const type = header[offset] ?? 0;
    const length = header.readUInt16BE(offset + 1);
    const start = offset + 3;
    if (start + length > header.length) {
      return { reason: 'bad-tlv', message: `PROXY v2 TLV ${hex(type)} at byte ${offset} declares ${length} bytes, ${header.length - start} remain` };
    }
    const value = header.subarray(start, start + length);
    tlvs.push({ type, value });
    switch (type) {
      case PP2_TYPE.CRC32C:
        if (length !== 4 || crcAt >= 0) return { reason: 'bad-tlv', message: 'PROXY v2 CRC32C TLV must appear once with 4 bytes' };
        crcAt = start;
        break;
      case PP2_TYPE.SIDELANE_PID:
      case PP2_TYPE.SIDELANE_UID: {
        const key = type === PP2_TYPE.SIDELANE_PID ? 'pid' : 'uid';
        if (length !== 4 || caller[key] !== undefined) {
          return { reason: 'bad-caller-tlv', message: `sidelane ${key} TLV must appear once with 4 bytes, got ${length}` };
        }
        caller[key] = value.readUInt32BE(0);
        break;
      }
      case PP2_TYPE.SIDELANE_COMM:
        if (length < 1 || length > SIDELANE_COMM_MAX || value.includes(0) || caller.comm !== undefined) {
          return { reason: 'bad-caller-tlv', message: `sidelane comm TLV must appear once with 1-${SIDELANE_COMM_MAX} bytes and no NUL` };
        }
        caller.comm = value.toString('utf8');
        break;
      default:
        break;
    }
    offset = start + length;
  }
  if (crcAt >= 0) {
    const expected = header.readUInt32BE(crcAt);
    const copy = Buffer.from(header);
    copy.fill(0, crcAt, crcAt + 4);
    const actual = crc32c(copy);
    if (actual !== expected) {
      return { reason: 'bad-crc32c', message: `PROXY v2 CRC32C mismatch: header says ${expected.toString(16)}, computed ${actual.toString(16)}` };
    }
  }
  const hasCaller = caller.pid !== undefined || caller.uid !== undefined || caller.comm !== undefined;
  return { tlvs, caller: hasCaller ? caller : undefined };
}

/**
 * Feeds a byte stream chunk by chunk until a header is complete. Holds at most one header's worth of bytes plus the
 * chunk that completed it; once it returned "header" or "error" it is done.
 */
export class ProxyHeaderDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(private readonly limits: DecodeLimits = {}) {}

  push(chunk: Uint8Array): ProxyDecodeResult {
    if (this.done) throw new Error('ProxyHeaderDecoder.push() after the header was decoded or rejected');
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const result = decodeProxyHeader(this.pending, this.limits);
    if (result.status !== 'needs-more') this.done = true;
    return result;
  }

  /** The stream ended: a header that was not complete is an error (the spec: reject partial headers). */
  end(): ProxyDecodeResult {
    if (this.done) throw new Error('ProxyHeaderDecoder.end() after the header was decoded or rejected');
    this.done = true;
    if (this.pending.length === 0) return error('truncated', 'the connection closed before sending a PROXY v2 header');
    const r = decodeProxyHeader(this.pending, this.limits);
    if (r.status === 'needs-more') {
      return error('truncated', `the connection closed after ${this.pending.length} bytes of a PROXY v2 header (${r.need} more needed)`);
    }
    return r;
  }
}

/** A decode failure as the catalogue's typed error, with the reason and whatever context the caller adds. */
export function proxyHeaderError(result: { reason: ProxyHeaderErrorReason; message: string }, context: Record<string, unknown> = {}): SidelaneError {
  return new SidelaneError('SIDELANE_ERR_PROXY_HEADER', result.message, { reason: result.reason, ...context });
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeaderSpec =
  | { readonly command: 'LOCAL'; readonly tlvs?: readonly Tlv[]; readonly crc32c?: boolean }
  | {
      readonly command: 'PROXY';
      readonly transport?: 'STREAM' | 'DGRAM';
      /** v4 on both ends gives INET (v4-mapped v6 counts as v4); anything else INET6, a v4 end written v4-mapped. */
      readonly source: Endpoint;
      readonly destination: Endpoint;
      readonly tlvs?: readonly Tlv[];
      readonly caller?: CallerIdentity;
      /** Append a CRC32C TLV over the whole header. */
      readonly crc32c?: boolean;
    };

function encodeError(message: string, context: Record<string, unknown> = {}): SidelaneError {
  return new SidelaneError('SIDELANE_ERR_PROXY_HEADER', message, context);
}

function endpointOctets(e: Endpoint, which: string): { v4: Uint8Array | undefined; v6: Uint8Array } {
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) throw encodeError(`${which} port ${e.port} is not 0-65535`);
  const normal = normaliseAddress(e.address);
  const bytes = ipToOctets(normal);
  if (!bytes) throw encodeError(`${which} address "${e.address}" is not an IPv4 or IPv6 address`);
  if (bytes.length === 4) {
    const v6 = new Uint8Array(16);
    v6[10] = 0xff;
    v6[11] = 0xff;
    v6.set(bytes, 12);
    return { v4: bytes, v6 };
  }
  return { v4: undefined, v6: bytes };
}

function callerTlvs(caller: CallerIdentity): Tlv[] {
  const out: Tlv[] = [];
  const u32 = (v: number, what: string): Uint8Array => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw encodeError(`caller ${what} ${v} is not a 32-bit unsigned integer`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  if (caller.pid !== undefined) out.push({ type: PP2_TYPE.SIDELANE_PID, value: u32(caller.pid, 'pid') });
  if (caller.uid !== undefined) out.push({ type: PP2_TYPE.SIDELANE_UID, value: u32(caller.uid, 'uid') });
  if (caller.comm !== undefined) {
    const comm = Buffer.from(caller.comm, 'utf8');
    // A string with a lone surrogate has no UTF-8 form: Buffer.from would write U+FFFD and the header would carry a
    // different name than the one given (found by fuzzing decode(encode(x)) = x).
    if (comm.length < 1 || comm.length > SIDELANE_COMM_MAX || comm.includes(0) || comm.toString('utf8') !== caller.comm) {
      throw encodeError(`caller comm ${JSON.stringify(caller.comm)} must be 1-${SIDELANE_COMM_MAX} bytes of UTF-8 without NUL`);
    }
    out.push({ type: PP2_TYPE.SIDELANE_COMM, value: comm });
  }
  return out;
}

/** Builds a header. Throws SIDELANE_ERR_PROXY_HEADER for values the format cannot carry. */
export function encodeProxyHeader(spec: ProxyHeaderSpec): Buffer {
  let famByte = 0x00;
  let addresses: Uint8Array = new Uint8Array(0);
  const tlvs: Tlv[] = [...(spec.tlvs ?? [])];
  if (spec.command === 'PROXY') {
    const src = endpointOctets(spec.source, 'source');
    const dst = endpointOctets(spec.destination, 'destination');
    const dgram = spec.transport === 'DGRAM';
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(spec.source.port, 0);
    ports.writeUInt16BE(spec.destination.port, 2);
    if (src.v4 && dst.v4) {
      famByte = dgram ? 0x12 : 0x11;
      addresses = Buffer.concat([src.v4, dst.v4, ports]);
    } else {
      famByte = dgram ? 0x22 : 0x21;
      addresses = Buffer.concat([src.v6, dst.v6, ports]);
    }
    if (spec.caller) tlvs.push(...callerTlvs(spec.caller));
  }
  for (const t of tlvs) {
    if (!Number.isInteger(t.type) || t.type < 0 || t.type > 0xff) throw encodeError(`TLV type ${t.type} is not a byte`);
    if (t.value.length > 0xffff) throw encodeError(`TLV ${hex(t.type)} value of ${t.value.length} bytes exceeds 65535`);
  }
  if (spec.crc32c) tlvs.push({ type: PP2_TYPE.CRC32C, value: new Uint8Array(4) });
  const tlvBytes = tlvs.map((t) => {
    const h = Buffer.alloc(3);
    h[0] = t.type;
    h.writeUInt16BE(t.value.length, 1);
    return Buffer.concat([h, t.value]);
  });
  const blockLength = addresses.length + tlvBytes.reduce((sum, b) => sum + b.length, 0);
  if (blockLength > 0xffff) throw encodeError(`PROXY v2 header block of ${blockLength} bytes exceeds 65535`);
  const fixed = Buffer.alloc(PP2_FIXED_LENGTH);
  fixed.set(PP2_SIGNATURE, 0);
  fixed[12] = 0x20 | (spec.command === 'PROXY' ? 1 : 0);
  fixed[13] = famByte;
  fixed.writeUInt16BE(blockLength, 14);
  const out = Buffer.concat([fixed, addresses, ...tlvBytes]);
  if (spec.crc32c) out.writeUInt32BE(crc32c(out), out.length - 4); // computed with its own field still zero
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as the spec's PP2_TYPE_CRC32C requires.

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = (CRC32C_TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
