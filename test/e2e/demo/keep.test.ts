/**
 * A mesh kept with --keep outlives the demo process, serves requests as the printed commands say, and is removed
 * completely by --down.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import type { DemoSummary } from '../../../src/demo/demo-summary';
import { netnsAvailable } from '../../support/netns';
import { CLI, cleanEnv } from '../../support/mesh';
import { leftovers, NOTHING, runCli } from './demo-support';

test('--keep leaves a working mesh after the demo exits; --down removes all of it', { timeout: 150_000 }, async (t) => {
  if (!netnsAvailable(t)) return;
  const kept = await runCli(['demo', '--keep', '--requests', '20', '--json', '-']);
  assert.equal(kept.code, 0, kept.stderr.slice(-2000));
  const s = JSON.parse(kept.stdout) as DemoSummary;
  const inodes = new Set(s.mesh.pods.map((p) => p.netnsInode));
  try {
    assert.equal(s.kept, true);
    assert.equal(s.leftBehind, undefined);
    assert.match(kept.stderr, /The mesh is still up \(--keep\)/);
    assert.match(kept.stderr, new RegExp(`demo --down ${s.mesh.id}\n`));
    const client = s.mesh.pods.find((p) => p.name === 'client')!;
    // The printed command, run as printed (the demo process is gone; the sidecars and apps keep serving).
    const command = new RegExp(`ip netns exec ${client.netns} \\S+ \\S+ exec -- curl -s "http://productpage:9080/productpage\\?user=jason"`);
    assert.match(kept.stderr, command);
    const page = await new Promise<string>((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', client.netns, process.execPath, CLI, 'exec', '--', 'curl', '-s', '--max-time', '10', 'http://productpage:9080/productpage?user=jason'], { env: cleanEnv() });
      let body = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (body += d));
      c.on('error', reject);
      c.on('exit', () => resolve(body));
    });
    assert.match(page, /signed in as jason/);
    assert.match(page, /Book Reviews \(reviews-v2\)/);
    assert.match(page, /★★★★★/);
    assert.notDeepEqual((await leftovers(s.mesh.id, inodes, s.mesh.dir)).processes, [], 'the kept mesh has its processes');
  } finally {
    const down = await runCli(['demo', '--down', s.mesh.id]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`removed demo mesh ${s.mesh.id} \\(7 pods, kept`));
  }
  assert.deepEqual(await leftovers(s.mesh.id, inodes, s.mesh.dir), NOTHING);
});
