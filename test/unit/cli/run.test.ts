import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');

test('sidelane run with an invalid configuration exits 2 with one clear line', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-run-'));
  try {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'services:\n  - host: reviews\n    ports: [{port: 9080, protocol: HTTP}]\nroutes:\n  - host: ratings\n    http: [{route: [{host: reviews}]}]\n');
    const r = spawnSync(process.execPath, [cli, 'run', '--config', file, '--no-admin'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `sidelane: config ${file}:5:11: routes[0].host: route for unknown host ratings (expected the host of a service in services)\n`);
    const v = spawnSync(process.execPath, [cli, '--verbose', 'run', '--config', file, '--no-admin'], { encoding: 'utf8', timeout: 10_000 });
    assert.match(v.stderr, /"code":"SIDELANE_ERR_CONFIG"/, '--verbose adds the details');
    const missing = spawnSync(process.execPath, [cli, 'run', '--config', path.join(dir, 'none.yaml')], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read the file \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad flags are usage errors (exit 2)', () => {
  const r = spawnSync(process.execPath, [cli, 'run', '--admin-port', 'x'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--admin-port: expected a port number 0-65535, got 'x'/);
});
