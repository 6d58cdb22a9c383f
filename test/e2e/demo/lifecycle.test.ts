/**
 * The demo's lifecycle around the walkthrough: SIGTERM in the middle removes everything (as Ctrl-C does), and a
 * mesh kept with --keep outlives the demo process, serves requests, and is removed completely by --down.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import type { DemoSummary } from '../../../src/demo/demo-summary';
import { listNetns } from '../../../src/netns/lab';
import { netnsAvailable } from '../../support/netns';
import { CLI, cleanEnv } from '../../support/mesh';
import { leftovers, NOTHING, runCli } from './demo-support';

test('SIGTERM during the demo: exit 143, and the mesh is gone with every process in it', { timeout: 120_000 }, async (t) => {
  if (!netnsAvailable(t)) return;
  const child = spawn(process.execPath, [CLI, 'demo', '--requests', '5000'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  // Whatever happens below, the demo does not outlive the test (SIGTERM: it removes its mesh itself).
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // Wait until the traffic runs (all pods up, requests in flight), then note the namespaces' inodes.
  const deadline = Date.now() + 90_000;
  while (!out.includes('[2/9]') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /\[2\/9\]/, `the demo did not reach the traffic step: ${out.slice(-2000)}`);
  const dir = /Configs and logs:\s+(\S+)\.\s/.exec(out)?.[1];
  assert.ok(dir, 'the run directory is printed');
  const id = dir.split('/').pop()!;
  const namespaces = (await listNetns()).filter((n) => n.startsWith(`${id}-`));
  assert.equal(namespaces.length, 8, `pods + node namespaces of ${id}: ${namespaces}`);
  const inodes = new Set(namespaces.map((n) => statSync(`/run/netns/${n}`).ino));
  child.kill('SIGTERM');
  const { code } = await exited;
  assert.equal(code, 143);
  assert.match(out, /interrupted \(SIGTERM\): removing the demo mesh/);
  assert.deepEqual(await leftovers(id, inodes, dir), NOTHING);
});

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
    assert.match(kept.stderr, /demo --down\n/);
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
    const down = await runCli(['demo', '--down']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`removed demo mesh ${s.mesh.id} \\(7 pods`));
  }
  assert.deepEqual(await leftovers(s.mesh.id, inodes, s.mesh.dir), NOTHING);
});
