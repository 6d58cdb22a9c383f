/**
 * NativeConnector's source-port picking for preserved-source legs: ports come from the requested range, and each
 * process picks its own sequence (the workers of one proxy used to share libc's unseeded random() sequence and
 * collided under churn — found by test/e2e/reliability/load.test.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { NativeConnector } from '../../../src/transport/connector';

const RANGE = { min: 20000, max: 29999 };

/** Connects `n` times from 127.0.0.1 with a source-port range and returns the local ports, in order. */
async function pickPorts(n: number): Promise<number[]> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const connector = new NativeConnector();
  const ports: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = await connector.connect({ target: { address: '127.0.0.1', port, family: 4 }, source: { address: '127.0.0.1', portRange: RANGE } });
      ports.push(s.localPort ?? 0);
      s.destroy();
    }
  } finally {
    server.close();
  }
  return ports;
}

const CHILD = process.argv.includes('--pick');

test('source ports are picked inside the requested range', { skip: CHILD }, async () => {
  const ports = await pickPorts(20);
  assert.ok(ports.every((p) => p >= RANGE.min && p <= RANGE.max), `ports ${ports.join(',')} within ${RANGE.min}-${RANGE.max}`);
  assert.ok(new Set(ports).size > 15, `picks are spread: ${ports.join(',')}`);
});

test('every process picks its own sequence of source ports (workers must not walk the same one)', { skip: CHILD }, async () => {
  const child = (): Promise<string> =>
    new Promise((resolve, reject) =>
      // Only the ports line: in child mode node:test still reports the (skipped) tests on stdout.
      execFile(process.execPath, [__filename, '--pick'], (err, stdout) => (err ? reject(err) : resolve(/^PORTS (.*)$/m.exec(stdout)?.[1] ?? ''))),
    );
  const [a, b] = await Promise.all([child(), child()]);
  assert.ok(a && b, 'both children printed their ports');
  assert.notEqual(a, b, `two processes picked the same sequence: ${a}`);
});

// Child mode (the test above runs this file twice): print the sequence this process picks.
if (CHILD) void pickPorts(8).then((p) => process.stdout.write(`PORTS ${p.join(',')}\n`));
