import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { classify, sniffProtocol } from '../../../src/http/protocol-sniffer';
import { socketPair } from '../../support/sockets';

test('classify: HTTP/1.x methods vs anything else, undecided on a method prefix', () => {
  assert.equal(classify(Buffer.from('GET / HTTP/1.1\r\n')), 'HTTP');
  assert.equal(classify(Buffer.from('PROPFIND /x HTTP/1.1')), 'HTTP');
  assert.equal(classify(Buffer.from('GE')), undefined);
  assert.equal(classify(Buffer.from('OPTIONS')), undefined);
  assert.equal(classify(Buffer.from('GETX / HTTP/1.1')), 'TCP');
  assert.equal(classify(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'TCP', 'HTTP/2 prior knowledge is opaque TCP');
  assert.equal(classify(Buffer.from([0x16, 0x03, 0x01])), 'TCP', 'TLS ClientHello');
  assert.equal(classify(Buffer.from('\x00\x00\x00\x01')), 'TCP');
  assert.equal(classify(Buffer.from('EHLO x')), 'TCP');
  assert.equal(classify(Buffer.from('get / HTTP/1.1')), 'TCP', 'methods are case-sensitive');
});

async function pair(): Promise<{ client: net.Socket; server: net.Socket; close(): void }> {
  const p = await socketPair();
  return {
    client: p.client,
    server: p.accepted,
    close: () => {
      p.client.destroy();
      p.accepted.destroy();
      p.close();
    },
  };
}

test('sniffing an HTTP request across several segments keeps every byte for replay', async () => {
  const p = await pair();
  const result = sniffProtocol(p.server, undefined, 1000);
  p.client.write('PO');
  await new Promise((r) => setTimeout(r, 30));
  p.client.write('ST /x HTTP/1.1\r\n');
  const r = await result;
  assert.equal(r.protocol, 'HTTP');
  assert.equal(r.data?.toString(), 'POST /x HTTP/1.1\r\n');
  assert.equal(p.server.isPaused(), true, 'left paused for the next owner');
  p.client.destroy();
  p.close();
});

test('a silent client (server-first protocol) is TCP after the deadline, with nothing read', async () => {
  const p = await pair();
  const t0 = Date.now();
  const r = await sniffProtocol(p.server, undefined, 80);
  assert.equal(r.protocol, 'TCP');
  assert.equal(r.data, undefined);
  assert.ok(Date.now() - t0 >= 70);
  p.client.destroy();
  p.close();
});

test('initial bytes decide without reading; a FIN before a decision is TCP with ended=true', async () => {
  const p = await pair();
  const r = await sniffProtocol(p.server, Buffer.from('GET / HTTP/1.0\r\n'), 1000);
  assert.equal(r.protocol, 'HTTP');
  assert.equal(r.ended, false);
  const q = await pair();
  const res = sniffProtocol(q.server, undefined, 1000);
  q.client.end('DEL');
  const r2 = await res;
  assert.deepEqual([r2.protocol, r2.ended, r2.data?.toString()], ['TCP', true, 'DEL']);
  p.client.destroy();
  p.close();
  q.close();
});
