/**
 * The capture state file is read back by cleanup, which turns some of its fields into nft commands: a record that
 * was edited or planted is refused field by field (exit 1, the file named, nothing changed), and the nft names it
 * may carry are plain identifiers even past that check.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SidelaneError } from '../../../src/errors';
import type { NftResult } from '../../../src/native/addon';
import { removeCreatedObjects, type NftRunner } from '../../../src/capture/nft-backend';
import { FileStateStore, type CaptureState } from '../../../src/capture/state';

const NETNS = 'net:[4026532280]';
const GOOD: CaptureState = {
  version: 1,
  netns: NETNS,
  backend: 'iptables-nft',
  mode: 'tproxy',
  families: [4, 6],
  mark: 0x539,
  routeTable: 133,
  addedPassthroughAddress: true,
  createdNftObjects: [{ family: 'ip', table: 'mangle' }, { family: 'ip6', table: 'mangle', chain: 'PREROUTING' }],
  instantiatedLegacyTables: ['ipv4 mangle', 'ipv6 raw'],
};

function withStore(body: (store: FileStateStore, write: (record: unknown) => void) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-state-'));
  try {
    const store = new FileStateStore(dir);
    body(store, (record) => writeFileSync(store.pathFor(NETNS), typeof record === 'string' ? record : JSON.stringify(record)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a record sidelane wrote loads back as it was; no file is no record', () => {
  withStore((store) => {
    assert.equal(store.load(NETNS), undefined);
    store.save(GOOD);
    assert.deepEqual(store.load(NETNS), GOOD);
    assert.equal(store.load('net:[1]'), undefined, 'a record for another namespace is not ours');
  });
});

const TAMPERED: [string, unknown, RegExp][] = [
  ['not JSON', '{"version": 1,', /not JSON/],
  ['an array', [], /expected a JSON object/],
  ['an nft chain name carrying a command', { ...GOOD, createdNftObjects: [{ family: 'ip', table: 'mangle', chain: 'PREROUTING; flush ruleset' }] }, /createdNftObjects\[0\]\.chain: expected a plain nft identifier/],
  ['an nft table name with a newline', { ...GOOD, createdNftObjects: [{ family: 'ip', table: 'mangle\ndelete table inet sidelane' }] }, /createdNftObjects\[0\]\.table: expected a plain nft identifier/],
  ['an nft family that is not ip/ip6', { ...GOOD, createdNftObjects: [{ family: 'inet', table: 'sidelane' }] }, /createdNftObjects\[0\]\.family: expected ip or ip6/],
  ['a mark that is text', { ...GOOD, mark: '0x539 lookup main' }, /mark: expected an integer 1-4294967295/],
  ['a route table out of range', { ...GOOD, routeTable: 2 ** 32 }, /routeTable: expected an integer/],
  ['an unknown backend', { ...GOOD, backend: 'sh -c id' }, /backend: expected one of nft, iptables-legacy, iptables-nft/],
  ['a family 5', { ...GOOD, families: [4, 5] }, /families: expected a list of 4 and\/or 6/],
  ['a legacy table that does not exist', { ...GOOD, instantiatedLegacyTables: ['ipv4 mangle -F'] }, /instantiatedLegacyTables\[0\]: expected "ipv4 TABLE" or "ipv6 TABLE" with TABLE one of raw, mangle, nat, filter, security/],
  ['a legacy table without its family', { ...GOOD, instantiatedLegacyTables: ['mangle'] }, /instantiatedLegacyTables\[0\]: expected "ipv4 TABLE"/],
  ['a missing field', { ...GOOD, addedPassthroughAddress: undefined }, /addedPassthroughAddress: expected true or false/],
  ['another version', { ...GOOD, version: 2 }, /version: expected 1/],
];

for (const [what, record, expected] of TAMPERED) {
  test(`a state file with ${what} is refused, naming the file and the field`, () => {
    withStore((store, write) => {
      write(record);
      assert.throws(
        () => store.load(NETNS),
        (err: unknown) => {
          assert.ok(err instanceof SidelaneError);
          assert.equal(err.code, 'SIDELANE_ERR_CAPTURE_STATE');
          assert.equal(err.exitCode, 1);
          assert.ok(err.message.includes(store.pathFor(NETNS)), err.message);
          assert.match(err.message, expected);
          assert.ok(!err.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  });
}

test('removeCreatedObjects never puts a name that is not a plain identifier into an nft command', () => {
  const scripts: string[] = [];
  const inventory = {
    nftables: [
      { table: { family: 'ip', name: 'mangle' } },
      { table: { family: 'ip', name: 'x; flush ruleset' } },
      { chain: { family: 'ip', table: 'mangle', name: 'PREROUTING' } },
      { chain: { family: 'ip', table: 'mangle', name: 'A B' } },
    ],
  };
  const nft: NftRunner = {
    available: () => true,
    run: (script: string): NftResult => {
      scripts.push(script);
      return script === 'list ruleset' ? { ok: true, output: JSON.stringify(inventory), error: '' } : { ok: true, output: '', error: '' };
    },
  };
  removeCreatedObjects(nft, [
    { family: 'ip', table: 'mangle', chain: 'PREROUTING' },
    { family: 'ip', table: 'mangle', chain: 'A B' },
    { family: 'ip', table: 'x; flush ruleset' },
    { family: 'inet; flush ruleset' as 'ip', table: 'mangle' },
  ]);
  const commands = scripts.filter((s) => s !== 'list ruleset');
  assert.deepEqual(commands, ['delete chain ip mangle PREROUTING']);
});
