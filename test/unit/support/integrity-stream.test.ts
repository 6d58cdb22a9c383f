/**
 * The integrity tests' own machinery, so that a pass there means something: the pattern streams are deterministic,
 * distinct per stream and direction, and pinned (a digest from another version compares equal); what a receiver
 * hashes equals what the sender hashed; the slow reader keeps to its rate; and compareEnds reports every kind of
 * mismatch (short stream, changed byte, missing or failed end).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { compareEnds } from '../../support/integrity-mesh';
import { PatternSource, planStreams, receivePattern, sendPattern, type ClientSummary, type ServerReport } from '../../support/integrity-stream';

const MiB = 1024 * 1024;

function whole(source: PatternSource): Buffer {
  const parts: Buffer[] = [];
  for (let c = source.next(); c !== undefined; c = source.next()) parts.push(c);
  return Buffer.concat(parts);
}

test('pattern streams are deterministic, differ per stream and direction, and hash what they produced', () => {
  const a = whole(new PatternSource('seed', 'r-0', 'up', MiB + 123));
  const b = new PatternSource('seed', 'r-0', 'up', MiB + 123);
  assert.deepEqual(whole(b), a);
  assert.equal(a.length, MiB + 123);
  assert.deepEqual(b.digest(), { bytes: MiB + 123, sha256: createHash('sha256').update(a).digest('hex') });
  assert.notDeepEqual(whole(new PatternSource('seed', 'r-1', 'up', 4096)), a.subarray(0, 4096));
  assert.notDeepEqual(whole(new PatternSource('seed', 'r-0', 'down', 4096)), a.subarray(0, 4096));
  // A prefix of a stream is the shorter stream (the length is not mixed into the key).
  assert.equal(a.subarray(0, 8).toString('hex'), whole(new PatternSource('seed', 'r-0', 'up', 8)).toString('hex'));
});

test('the stream format is pinned: the AES-128-CTR keystream of sha256("SEED\\0ID\\0DIRECTION")[0..16], IV 0', () => {
  // Computed independently with: KEY=$(printf 'sidelane\0r-0\0up' | sha256sum | cut -c1-32);
  //   head -c 1048576 /dev/zero | openssl enc -aes-128-ctr -K $KEY -iv 00000000000000000000000000000000 | sha256sum
  const s = new PatternSource('sidelane', 'r-0', 'up', MiB);
  whole(s);
  assert.equal(s.digest().sha256, '371d5cb04029aaa2bdfd502457bb078c163f27097e69bc6e8389b07f4ffb2e34');
});

test('a receiver hashes exactly what the sender wrote, through a stream with backpressure', async () => {
  const pipe = new PassThrough({ highWaterMark: 16 * 1024 });
  const source = new PatternSource('s', 'x', 'up', 3 * MiB + 7);
  const receiving = receivePattern(pipe, { initial: Buffer.alloc(0) });
  const sent = await sendPattern(pipe, source);
  pipe.end();
  const got = await receiving;
  assert.deepEqual({ bytes: got.bytes, sha256: got.sha256 }, sent);
});

test('the slow reader keeps to its rate during the slow phase, then reads the rest', async () => {
  const pipe = new PassThrough();
  const rate = 1 * MiB;
  const receiving = receivePattern(pipe, { slowRate: rate, slowMs: 500 });
  const sent = await sendPattern(pipe, new PatternSource('s', 'slow', 'up', 2 * MiB));
  pipe.end();
  const got = await receiving;
  assert.equal(got.sha256, sent.sha256);
  assert.ok(got.slow, 'the slow phase is reported');
  // 0.5 s at 1 MiB/s, plus one chunk of slack (64 KiB).
  assert.ok(got.slow.bytes <= rate / 2 + 64 * 1024, `read ${got.slow.bytes} bytes in the slow phase`);
  assert.ok(got.slow.bytes > 0);
});

test('compareEnds reports short streams, changed bytes, missing and failed ends; nothing when both ends agree', () => {
  const plan = planStreams('r', 2000, 2, ['up-then-down', 'upload']);
  assert.deepEqual(
    plan.map((p) => [p.id, p.mode, p.up, p.down]),
    [
      ['r-0', 'up-then-down', 500, 500],
      ['r-1', 'upload', 1000, 0],
    ],
  );
  const d = (bytes: number, tag: string): { bytes: number; sha256: string } => ({ bytes, sha256: `sha-${tag}` });
  const client = (s0: object, s1: object): ClientSummary => ({ streams: [{ id: 'r-0', mode: 'up-then-down', ...s0 }, { id: 'r-1', mode: 'upload', ...s1 }], bytes: 0, ms: 1 });
  const server = (s0: object, s1: object): Map<string, ServerReport> =>
    new Map([
      ['r-0', { side: 'server', proto: 'tcp', id: 'r-0', mode: 'up-then-down', ...s0 } as ServerReport],
      ['r-1', { side: 'server', proto: 'http', id: 'r-1', mode: 'upload', ...s1 } as ServerReport],
    ]);
  const goodClient = client({ tx: d(500, 'a'), rx: d(500, 'b') }, { tx: d(1000, 'c') });
  const goodServer = server({ rx: d(500, 'a'), tx: d(500, 'b') }, { rx: d(1000, 'c') });
  assert.deepEqual(compareEnds(plan, goodClient, goodServer), []);

  const problems = compareEnds(
    plan,
    client({ tx: d(500, 'a'), rx: d(499, 'b') }, { tx: d(1000, 'c') }),
    server({ rx: d(500, 'A'), tx: d(500, 'b') }, { error: 'ECONNRESET' }),
  );
  assert.deepEqual(problems, [
    'r-0 (up-then-down) up: sha256 differs (sent sha-a, received sha-A)',
    'r-0 (up-then-down) down: receiver got 499 bytes of 500',
    'r-1 (upload): server failed: ECONNRESET',
  ]);
  assert.deepEqual(compareEnds(plan, client({ tx: d(400, 'a'), rx: d(500, 'b') }, { tx: d(1000, 'c') }), server({ rx: d(400, 'a'), tx: d(500, 'b') }, { rx: d(1000, 'c') })), [
    'r-0 (up-then-down) up: sender sent 400 bytes, planned 500',
  ]);
  assert.deepEqual(compareEnds(plan, { streams: [goodClient.streams[0]!], bytes: 0, ms: 1 }, new Map([...goodServer].slice(0, 1))), ['r-1: no client result', 'r-1: no server report']);
});
