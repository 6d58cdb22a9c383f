import assert from 'node:assert/strict';
import { test } from 'node:test';
import { haproxyConfig } from '../../../../src/bench/modes/haproxy-config';
import { haproxyArgv, HAPROXY_INIT_ARGS } from '../../../../src/bench/modes/haproxy-sidecars';
import { assertGolden } from '../../../support/golden-file';

const base = { threads: 1, maxConnections: 9200, inboundPort: 15006, outboundPort: 15001 };

test('HAProxy as a transparent TCP sidecar (golden)', () => {
  assertGolden(haproxyConfig({ ...base, protocol: 'tcp' }), 'bench', 'haproxy-tcp.golden.cfg');
});

test('HAProxy in mode http (golden): the same listeners, HTTP keep-alive on both sides', () => {
  const cfg = haproxyConfig({ ...base, protocol: 'http', threads: 2 });
  assertGolden(cfg, 'bench', 'haproxy-http.golden.cfg');
  assert.match(cfg, /^ {2}nbthread 2$/m);
});

test('HAProxy runs as uid 1337 with only the capabilities transparent sockets need, excluded from capture by that uid', () => {
  assert.deepEqual(haproxyArgv('/w/haproxy.cfg'), [
    'setpriv', '--reuid=1337', '--regid=1337', '--clear-groups', '--inh-caps=+net_admin,+net_raw', '--ambient-caps=+net_admin,+net_raw',
    'haproxy', '-f', '/w/haproxy.cfg', '-db',
  ]);
  assert.deepEqual(HAPROXY_INIT_ARGS, ['--outbound', 'tproxy', '--proxy-uid', '1337', '--no-preserve-source']);
});
