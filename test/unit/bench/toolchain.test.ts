import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordingRunner } from '../../../src/netns/command';
import { ensureTools, toolVersion } from '../../../src/bench/toolchain';

test('toolVersion reads the version token of each tool as Debian 12 prints it', () => {
  assert.equal(toolVersion('wrk', 'wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer\nUsage: wrk'), 'debian/4.1.0-3+b2');
  assert.equal(toolVersion('h2load', 'h2load nghttp2/1.52.0\n'), '1.52.0');
  assert.equal(toolVersion('iperf3', 'iperf 3.12 (cJSON 1.7.15)\nLinux'), '3.12');
  assert.equal(toolVersion('haproxy', 'HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n'), '2.6.12-1+deb12u4');
  assert.equal(toolVersion('nginx', 'nginx version: nginx/1.22.1\n'), '1.22.1');
  assert.equal(toolVersion('curl', 'curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1'), '7.88.1');
  assert.equal(toolVersion('unknown-tool', 'some tool 1.0\nmore'), 'some tool 1.0');
});

test('missing tools: their Debian packages are installed as root, named in the error otherwise', async () => {
  const missing = new Set(['h2load', 'wrk']);
  const runner = new RecordingRunner((cmd, args) => (cmd === 'sh' && missing.has(String(args[1]).split(' ').at(-1)!) ? { code: 1 } : {}));
  const log: string[] = [];
  await ensureTools(runner, true, (l) => log.push(l));
  const install = runner.calls.find((c) => c.cmd === 'apt-get' && c.args[0] === 'install');
  assert.deepEqual(install?.args.slice(-2), ['wrk', 'nghttp2-client']);
  assert.deepEqual(log, ['installing Debian packages: wrk nghttp2-client']);

  const user = new RecordingRunner((cmd, args) => (cmd === 'sh' && String(args[1]).endsWith('wrk') ? { code: 1 } : {}));
  await assert.rejects(ensureTools(user, false, () => undefined), /missing wrk; install: apt-get install wrk/);
  assert.ok(!user.calls.some((c) => c.cmd === 'apt-get'));
});
