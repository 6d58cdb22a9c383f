import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { demoRunBase, listRecords, removable, writeRecord, type DemoRecord } from '../../../src/demo/kept-demos';

test('records are found in their run directories; directories without one are not demos', (t) => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'sidelane-demo-records-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const record = (id: string, kept: boolean): DemoRecord => ({ version: 1, id, dir: path.join(base, id), pid: 4242, createdAt: '2026-01-01T00:00:00.000Z', kept });
  for (const r of [record('demo-bbbbbb', true), record('demo-aaaaaa', false)]) {
    mkdirSync(r.dir);
    writeRecord(r);
  }
  mkdirSync(path.join(base, 'demo-cccccc'));
  mkdirSync(path.join(base, 'demo-dddddd'));
  writeFileSync(path.join(base, 'demo-dddddd', 'mesh.json'), '{"version": 1}');
  assert.deepEqual(listRecords(base).map((r) => r.id), ['demo-aaaaaa', 'demo-bbbbbb']);
  assert.deepEqual(listRecords(path.join(base, 'missing')), []);
});

test('--down removes kept meshes and those of dead demo processes, never a running demo', () => {
  const r = (kept: boolean): DemoRecord => ({ version: 1, id: 'demo-x', dir: '/nonexistent', pid: 7, createdAt: '', kept });
  assert.equal(removable(r(true), () => true), true);
  assert.equal(removable(r(false), () => false), true);
  assert.equal(removable(r(false), () => true), false);
  assert.equal(removable({ ...r(false), pid: process.pid }), false, 'this process is alive');
});

test('run directories live next to the capture state', () => {
  assert.equal(demoRunBase({}), '/run/sidelane/demo');
  assert.equal(demoRunBase({ SIDELANE_STATE_DIR: '/tmp/x' }), '/tmp/x/demo');
});
