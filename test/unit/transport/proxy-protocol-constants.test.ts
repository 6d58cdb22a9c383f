/**
 * The TLV numbers exist twice — in the C hook (native/hook/proxy_v2.h) and in proxy-protocol.ts. This reads the C
 * header and insists they agree (the e2e hook tests also decode the hook's real bytes with the TypeScript decoder).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MAX_HEADER_BYTES, PP2_SIGNATURE, PP2_TYPE, SIDELANE_COMM_MAX } from '../../../src/transport/proxy-protocol';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');

function cDefines(): Map<string, number> {
  const text = readFileSync(path.join(root, 'native/hook/proxy_v2.h'), 'utf8');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define\s+(SL_PP2_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

test('every TLV type the C hook defines has the same number in PP2_TYPE', () => {
  const defs = cDefines();
  const types = [...defs].filter(([name]) => name.startsWith('SL_PP2_TYPE_'));
  assert.ok(types.length >= 5, `expected the TLV defines in proxy_v2.h, found ${types.map(([n]) => n).join(', ')}`);
  for (const [name, value] of types) {
    const key = name.slice('SL_PP2_TYPE_'.length) as keyof typeof PP2_TYPE;
    assert.equal(PP2_TYPE[key], value, `${name} is ${value} in C, PP2_TYPE.${key} is ${PP2_TYPE[key]}`);
  }
  for (const key of ['SIDELANE_PID', 'SIDELANE_UID', 'SIDELANE_COMM'] as const) {
    assert.ok(defs.has(`SL_PP2_TYPE_${key}`), `proxy_v2.h lacks SL_PP2_TYPE_${key}`);
  }
});

test('the C limits fit the decoder: comm length, and the largest hook header under the default limit', () => {
  const defs = cDefines();
  assert.equal(defs.get('SL_PP2_COMM_MAX'), SIDELANE_COMM_MAX);
  assert.equal(defs.get('SL_PP2_SIGNATURE_LEN'), PP2_SIGNATURE.length);
  const max = 16 + 36 + 7 + 7 + 3 + SIDELANE_COMM_MAX; // SL_PP2_MAX_HEADER's formula
  assert.ok(max <= DEFAULT_MAX_HEADER_BYTES);
  const text = readFileSync(path.join(root, 'native/hook/proxy_v2.h'), 'utf8');
  assert.match(text, /#define SL_PP2_MAX_HEADER \(SL_PP2_FIXED_LEN \+ SL_PP2_ADDR_LEN_TCP6 \+ 7 \+ 7 \+ 3 \+ SL_PP2_COMM_MAX\)/);
});
