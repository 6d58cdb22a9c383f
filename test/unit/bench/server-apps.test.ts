import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nginxConfig, parseAcceptedConnections, RESPONSE_BODY } from '../../../src/bench/server-apps';
import { assertGolden } from '../../support/golden-file';

test('nginx configuration (golden): one process, both HTTP ports, status on a unix socket only', () => {
  const conf = nginxConfig('/tmp/sidelane-bench-x/server');
  assertGolden(conf, 'bench', 'nginx.golden.conf');
  assert.match(conf, /^master_process off;$/m);
  assert.ok(conf.includes(`return 200 "${RESPONSE_BODY.replace('\n', '\\n')}"`));
  assert.ok(!/listen \d+;\s*\n\s*location = \/nginx_status/.test(conf), 'the status page must not be reachable over TCP');
});

test("stub_status: the accepts counter", () => {
  const status = 'Active connections: 1 \nserver accepts handled requests\n 12460 12460 88001 \nReading: 0 Writing: 1 Waiting: 0 \n';
  assert.equal(parseAcceptedConnections(status), 12460);
  assert.equal(parseAcceptedConnections('<html>404</html>'), undefined);
});
