/**
 * Malformed configurations, table-driven, through the real CLI (issue 10 "Bad input"): syntax errors (YAML and JSON),
 * files with no document, documents that are not a map, wrong types, unknown fields at every level, bad addresses,
 * ports and host names, duplicates, dangling references, bad regular expressions and durations, weights that do not
 * add up, empty lists where one entry is needed, resource-exhaustion shapes (alias bombs, deep nesting). Each must
 * give exit 2 and exactly one stderr line naming the file, the path inside it and what was expected — no stack
 * trace, nothing on stdout. Every case runs through the CLI's main() (`sidelane config check`), a sample also as
 * separate processes of `sidelane config check` and of `sidelane run --config` (in a pod's network namespace, so
 * nothing could listen outside it), which must give the very same line.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { withLab } from '../../support/netns';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const CLI = path.join(root, 'dist', 'src', 'cli', 'main.js');
const BATCH = path.join(root, 'dist', 'test', 'support', 'cli-batch.js');

/** One service with one HTTP port and one endpoint; the cases bend it. */
const SVC = `services:
  - host: reviews
    addresses: [198.19.0.1]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints: [{address: 198.18.0.1, labels: {version: v1}}]
`;
const withRoute = (http: string): string => `${SVC}routes:\n  - host: reviews\n    http: [${http}]\n`;
const swap = (from: string, to: string): string => {
  assert.ok(SVC.includes(from), from);
  return SVC.replace(from, to);
};

interface ConfigCase {
  readonly name: string;
  readonly text: string;
  /** Default bad.yaml. */
  readonly file?: string;
  /** The path the line must name (`(top level)` for the document itself); undefined for syntax errors. */
  readonly path: string | undefined;
  /** What the line must say was expected (or found). */
  readonly expect: RegExp;
  /** The line:column it must point at, when it can. */
  readonly at?: string;
}

const CASES: readonly ConfigCase[] = [
  // Syntax
  { name: 'YAML: unclosed flow sequence', text: 'services: [\n', path: undefined, expect: /not valid YAML\/JSON: .*end with a \]/, at: '2:1' },
  { name: 'YAML: tab indentation', text: 'services:\n\t- host: x\n', path: undefined, expect: /not valid YAML\/JSON: Tabs are not allowed as indentation/ },
  { name: 'YAML: duplicate key', text: 'services: []\nservices: []\n', path: undefined, expect: /not valid YAML\/JSON: Map keys must be unique/, at: '2:1' },
  { name: 'YAML: two documents', text: 'services: []\n---\nservices: []\n', path: undefined, expect: /multiple documents \(expected one; remove the --- separators\)/ },
  { name: 'JSON: bad bracket', file: 'bad.json', text: '{"services": [}', path: undefined, expect: /not valid YAML\/JSON/, at: '1:15' },
  { name: 'JSON: comment', file: 'bad.json', text: '{"services": [] /* c */}', path: undefined, expect: /not valid YAML\/JSON: Unexpected scalar/ },
  { name: 'binary garbage', text: '\u0000\u0001\u0002\u00ff\u00fe', path: '(top level)', expect: /expected a map of settings \(outboundTrafficPolicy, .*\), got "\\u0000\\u0001/ },
  // No document, or not a map
  { name: 'empty file', text: '', path: '(top level)', expect: /the file has no configuration \(empty, only comments, or null\); expected a map like \{services: \[\.\.\.\]\}, or \{\} for none/ },
  { name: 'only comments', text: '# nothing here\n', path: '(top level)', expect: /the file has no configuration/ },
  { name: 'document null', text: '~\n', path: '(top level)', expect: /the file has no configuration/ },
  { name: 'document a number', text: '42\n', path: '(top level)', expect: /expected a map of settings \(.*\), got 42/, at: '1:1' },
  { name: 'document a list', text: '- a\n- b\n', path: '(top level)', expect: /expected a map of settings .*, got a list/ },
  { name: 'JSON document a string', file: 'bad.json', text: '"hello"', path: '(top level)', expect: /expected a map of settings .*, got "hello"/ },
  // Unknown fields
  { name: 'unknown top-level field', text: 'servces: []\n', path: 'servces', expect: /unknown field \(check the spelling; docs\/config\.md lists every field\)/, at: '1:10' },
  { name: 'unknown service field', text: swap('endpoints:', 'endpoint:'), path: 'services[0].endpoint', expect: /unknown field/, at: '5:15' },
  { name: 'unknown port field', text: swap('protocol: HTTP}', 'protocol: HTTP, proto: x}'), path: 'services[0].ports[0].proto', expect: /unknown field/ },
  { name: 'unknown route field', text: withRoute('{route: [{host: reviews}], retry: {attempts: 2}}'), path: 'routes[0].http[0].retry', expect: /unknown field/ },
  { name: 'unknown defaults field', text: 'defaults: {connectTimeot: 1s}\n', path: 'defaults.connectTimeot', expect: /unknown field/ },
  { name: '__proto__ key', text: '__proto__: {polluted: 1}\n', path: '__proto__', expect: /unknown field/ },
  // Wrong types
  { name: 'services a number', text: 'services: 3\n', path: 'services', expect: /expected a list, got 3/, at: '1:11' },
  { name: 'services null', text: 'services: null\n', path: 'services', expect: /expected a list, got null/ },
  { name: 'ports a string', text: swap('ports: [{port: 9080, protocol: HTTP}]', 'ports: "9080"'), path: 'services[0].ports', expect: /expected a list, got "9080"/ },
  { name: 'port a string', text: swap('port: 9080', 'port: "9080"'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got "9080"/, at: '4:20' },
  { name: 'inbound a list', text: 'inbound: [80]\n', path: 'inbound', expect: /expected a map, got a list/ },
  { name: 'labels a list', text: 'workload: {labels: [a]}\n', path: 'workload.labels', expect: /expected a map of labels like \{version: v1\}, got a list/ },
  { name: 'unresolved !!js tag', text: 'services: !!js/function "x"\n', path: 'services', expect: /expected a list, got "x"/ },
  { name: 'missing host', text: 'services:\n  - ports: [{port: 80}]\n', path: 'services[0].host', expect: /missing \(expected a host name like reviews\.default\.svc\.cluster\.local\)/ },
  { name: 'missing ports', text: 'services:\n  - host: a\n', path: 'services[0].ports', expect: /missing \(expected a list\)/ },
  // Ports
  { name: 'port 0', text: swap('port: 9080', 'port: 0'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got 0/ },
  { name: 'port 70000', text: swap('port: 9080', 'port: 70000'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got 70000/ },
  { name: 'port -1', text: swap('port: 9080', 'port: -1'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got -1/ },
  { name: 'port 80.5', text: swap('port: 9080', 'port: 80.5'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got 80\.5/ },
  { name: 'port .inf', text: swap('port: 9080', 'port: .inf'), path: 'services[0].ports[0].port', expect: /expected a port number 1-65535, got Infinity/ },
  { name: 'endpoint port 65536', text: swap('address: 198.18.0.1,', 'address: 198.18.0.1, port: 65536,'), path: 'services[0].endpoints[0].port', expect: /expected a port number 1-65535/ },
  { name: 'inbound port 0', text: 'inbound: {ports: [{port: 0}]}\n', path: 'inbound.ports[0].port', expect: /expected a port number 1-65535, got 0/ },
  // Addresses and names
  { name: 'VIP 300.1.1.1', text: swap('198.19.0.1', '300.1.1.1'), path: 'services[0].addresses[0]', expect: /expected an IPv4 or IPv6 address, got "300\.1\.1\.1"/ },
  { name: 'endpoint a CIDR', text: swap('address: 198.18.0.1', 'address: 198.18.0.0/24'), path: 'services[0].endpoints[0].address', expect: /expected an IPv4 or IPv6 address, got "198\.18\.0\.0\/24"/ },
  { name: 'endpoint a host name', text: swap('address: 198.18.0.1', 'address: ratings'), path: 'services[0].endpoints[0].address', expect: /expected an IPv4 or IPv6 address, got "ratings"/ },
  { name: 'host upper case', text: swap('host: reviews', 'host: Reviews'), path: 'services[0].host', expect: /expected a lower-case DNS host name/ },
  { name: 'host empty', text: swap('host: reviews', 'host: ""'), path: 'services[0].host', expect: /expected a lower-case DNS host name .*, got ""/ },
  { name: 'label key with a space', text: swap('labels: {version: v1}', 'labels: {"bad key": v1}'), path: 'services[0].endpoints[0].labels["bad key"]', expect: /expected a label key like app or version, got "bad key"/ },
  { name: 'header name with a space', text: withRoute('{match: [{headers: {"bad header": {exact: x}}}], route: [{host: reviews}]}'), path: 'routes[0].http[0].match[0].headers["bad header"]', expect: /expected an HTTP header name, got "bad header"/ },
  // Enumerations
  { name: 'outbound policy DENY', text: 'outboundTrafficPolicy: DENY\n', path: 'outboundTrafficPolicy', expect: /expected ALLOW_ANY or REGISTRY_ONLY, got "DENY"/ },
  { name: 'protocol UDP', text: swap('protocol: HTTP', 'protocol: UDP'), path: 'services[0].ports[0].protocol', expect: /UDP is not proxied by sidelane/ },
  { name: 'protocol HTTP3', text: swap('protocol: HTTP', 'protocol: HTTP3'), path: 'services[0].ports[0].protocol', expect: /expected a protocol: HTTP, AUTO, TCP/ },
  { name: 'load balancer FASTEST', text: `${SVC}    loadBalancer: FASTEST\n`, path: 'services[0].loadBalancer', expect: /expected ROUND_ROBIN, LEAST_REQUEST, RANDOM/ },
  { name: 'two hash keys', text: `${SVC}    loadBalancer: {consistentHash: {httpHeaderName: x, useSourceIp: true}}\n`, path: 'services[0].loadBalancer.consistentHash', expect: /expected exactly one hash key/ },
  { name: 'retryOn bogus', text: 'defaults: {retries: {attempts: 2, retryOn: "5xx,bogus"}}\n', path: 'defaults.retries.retryOn', expect: /expected retry conditions among 5xx/ },
  // Duplicates
  { name: 'duplicate service host', text: SVC + SVC.replace('services:\n', ''), path: 'services[1].host', expect: /duplicate service host reviews/, at: '6:11' },
  { name: 'duplicate port', text: swap('ports: [{port: 9080, protocol: HTTP}]', 'ports: [{port: 9080}, {port: 9080}]'), path: 'services[0].ports[1].port', expect: /duplicate port 9080 in service reviews/ },
  { name: 'duplicate inbound port', text: 'inbound: {ports: [{port: 80}, {port: 80}]}\n', path: 'inbound.ports[1].port', expect: /duplicate inbound port 80/ },
  { name: 'VIP+port of two services', text: SVC + SVC.replace('services:\n', '').replace('host: reviews', 'host: ratings'), path: 'services[1].addresses', expect: /address 198\.19\.0\.1 port 9080 is already the address of service reviews/ },
  // Dangling references
  { name: 'route to an unknown host', text: `${SVC}routes:\n  - host: ratings\n    http: [{route: [{host: reviews}]}]\n`, path: 'routes[0].host', expect: /route for unknown host ratings \(expected the host of a service in services\)/ },
  { name: 'destination an unknown service', text: withRoute('{route: [{host: ratings}]}'), path: 'routes[0].http[0].route[0].host', expect: /destination host ratings is not a service/ },
  { name: 'subset not declared', text: withRoute('{route: [{subset: v9}]}'), path: 'routes[0].http[0].route[0].subset', expect: /service reviews has no subset v9/ },
  { name: 'subset labels select nothing', text: withRoute('{route: [{subset: {version: v9}}]}'), path: 'routes[0].http[0].route[0].subset', expect: /subset \{version: v9\} of reviews selects no endpoint/ },
  { name: 'declared subset selects nothing', text: `${SVC}    subsets: [{name: v2, labels: {version: v2}}]\n`, path: 'services[0].subsets[0].labels', expect: /subset v2 of reviews selects no endpoint/ },
  { name: 'route port not on the service', text: `${SVC}routes:\n  - host: reviews\n    port: 9999\n    http: [{route: [{host: reviews}]}]\n`, path: 'routes[0].port', expect: /service reviews has no port 9999 \(expected one of 9080\)/ },
  { name: 'http routes on a TCP port', text: swap('protocol: HTTP', 'protocol: TCP') + 'routes:\n  - host: reviews\n    http: [{route: [{host: reviews}]}]\n', path: 'routes[0].http', expect: /http routes on a TCP port of reviews/ },
  // Regular expressions, durations, weights, numbers
  { name: 'bad regex', text: withRoute('{match: [{uri: {regex: "("}}], route: [{host: reviews}]}'), path: 'routes[0].http[0].match[0].uri.regex', expect: /expected a valid regular expression \(JavaScript syntax\), got "\("/ },
  { name: 'two string matchers', text: withRoute('{match: [{uri: {exact: /a, prefix: /b}}], route: [{host: reviews}]}'), path: 'routes[0].http[0].match[0].uri', expect: /expected exactly one of exact, prefix, regex/ },
  { name: 'duration "5 s"', text: `${SVC}    connectTimeout: 5 s\n`, path: 'services[0].connectTimeout', expect: /expected a duration like 250ms, 5s, 1m or 1h .*, got "5 s"/ },
  { name: 'duration 1d', text: `${SVC}    connectTimeout: 1d\n`, path: 'services[0].connectTimeout', expect: /expected a duration like .*, got "1d"/ },
  { name: 'duration -5', text: `${SVC}    connectTimeout: -5\n`, path: 'services[0].connectTimeout', expect: /expected a duration like .*, got -5/ },
  { name: 'duration true', text: 'defaults: {idleTimeout: true}\n', path: 'defaults.idleTimeout', expect: /expected a duration like .*, got true/ },
  { name: 'duration 1000h (timer overflow)', text: 'defaults: {connectTimeout: 1000h}\n', path: 'defaults.connectTimeout', expect: /expected a duration of at most 596h/ },
  { name: 'weights for some destinations only', text: withRoute('{route: [{host: reviews, weight: 50}, {host: reviews}]}'), path: 'routes[0].http[0].route', expect: /give every destination a weight, or none/ },
  { name: 'weights adding up to 0', text: withRoute('{route: [{host: reviews, weight: 0}]}'), path: 'routes[0].http[0].route', expect: /the weights add up to 0 \(expected a positive total\)/ },
  { name: 'negative weight', text: withRoute('{route: [{host: reviews, weight: -5}]}'), path: 'routes[0].http[0].route[0].weight', expect: /expected a weight \(a non-negative integer\), got -5/ },
  { name: 'endpoint weight 0', text: swap('labels: {version: v1}}', 'labels: {version: v1}, weight: 0}'), path: 'services[0].endpoints[0].weight', expect: /expected a weight \(a positive integer\), got 0/ },
  { name: 'maxConnections 0', text: 'defaults: {circuitBreakers: {maxConnections: 0}}\n', path: 'defaults.circuitBreakers.maxConnections', expect: /expected a connection count \(a positive integer\), got 0/ },
  { name: 'maxEjectionPercent 150', text: 'defaults: {outlierDetection: {maxEjectionPercent: 150}}\n', path: 'defaults.outlierDetection.maxEjectionPercent', expect: /expected a percentage 0-100, got 150/ },
  { name: 'retry attempts -1', text: 'defaults: {retries: {attempts: -1}}\n', path: 'defaults.retries.attempts', expect: /expected a number of retries \(a non-negative integer\), got -1/ },
  { name: 'status code 600', text: 'defaults: {retries: {attempts: 1, retriableStatusCodes: [600]}}\n', path: 'defaults.retries.retriableStatusCodes[0]', expect: /expected an HTTP status code, got 600/ },
  // Empty where one entry is needed
  { name: 'no ports', text: swap('ports: [{port: 9080, protocol: HTTP}]', 'ports: []'), path: 'services[0].ports', expect: /expected at least one port/ },
  { name: 'no destinations', text: withRoute('{route: []}'), path: 'routes[0].http[0].route', expect: /expected at least one destination/ },
  { name: 'empty match list', text: withRoute('{match: [], route: [{host: reviews}]}'), path: 'routes[0].http[0].match', expect: /expected at least one match/ },
  { name: 'rule with neither http nor tcp', text: `${SVC}routes:\n  - host: reviews\n`, path: 'routes[0]', expect: /expected http or tcp routes/ },
  { name: 'subset with no labels', text: `${SVC}    subsets: [{name: v1, labels: {}}]\n`, path: 'services[0].subsets[0].labels', expect: /expected at least one label/ },
  { name: 'destination and host both', text: withRoute('{route: [{destination: {host: reviews}, host: reviews}]}'), path: 'routes[0].http[0].route[0]', expect: /expected either destination: \{host, port, subset\} or host\/port\/subset directly, not both/ },
  // Resource exhaustion shapes
  {
    name: 'alias bomb ("billion laughs")',
    text: 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
    path: undefined,
    expect: /not valid YAML\/JSON: aliases expand too far \(expected at most 100 alias references\)/,
  },
  { name: 'nesting 20000 levels deep', text: `services: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, path: undefined, expect: /not valid YAML\/JSON: nested too deeply/ },
];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `fn` over `items`, at most `width` at a time (each is a node process: the machine is shared). */
async function pooled<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The one line a case must produce, checked piece by piece so a failure says which piece is wrong. */
function assertOneClearLine(c: ConfigCase, file: string, r: Run): void {
  const what = `${c.name}: ${JSON.stringify(r.stderr)}`;
  assert.equal(r.code, 2, `${what} — exit ${r.code}, expected 2`);
  assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
  assert.ok(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, `${what} — expected exactly one line`);
  assert.doesNotMatch(r.stderr, /^\s+at |Error:|\.js:\d+/m, `${what} — no stack trace or error class`);
  const line = r.stderr.slice(0, -1);
  const prefix = `sidelane: config ${file}`;
  assert.ok(line.startsWith(prefix), `${what} — expected to start with ${prefix}`);
  if (c.at !== undefined) assert.ok(line.startsWith(`${prefix}:${c.at}: `), `${what} — expected the position ${c.at}`);
  if (c.path !== undefined) assert.ok(line.includes(`: ${c.path}: `), `${what} — expected the path ${c.path}`);
  assert.match(line, c.expect, what);
}

test('every malformed configuration: `config check` exits 2 with one clear line (file, path, what was expected)', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-badcfg-'));
  try {
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
    const files = CASES.map((c, i) => {
      const file = path.join(dir, `${i}-${c.file ?? 'bad.yaml'}`);
      writeFileSync(file, c.text, 'latin1');
      return file;
    });
    // Every case through the CLI's main() in one process (test/support/cli-batch.ts: a Node start-up plus zod and
    // yaml for each of 82 files would cost ~30 s of CPU on a shared machine); every sixth also as its own
    // `sidelane config check` process, which must say exactly the same.
    const batch = spawnSync(process.execPath, [BATCH], { input: JSON.stringify(files.map((f) => ['config', 'check', f])), encoding: 'utf8', timeout: 120_000 });
    assert.equal(batch.status, 0, `the batch runner: ${batch.stderr}`);
    const results = JSON.parse(batch.stdout) as Run[];
    const failures: string[] = [];
    CASES.forEach((c, i) => {
      try {
        assertOneClearLine(c, files[i]!, results[i]!);
      } catch (err) {
        failures.push((err as Error).message.split('\n')[0]!);
      }
    });
    const sampled = CASES.map((c, i) => ({ c, i })).filter(({ i }) => i % 6 === 0);
    const real = await pooled(sampled, 2, async ({ c, i }) => ({ c, i, r: await runCli(['config', 'check', files[i]!]) }));
    for (const { c, i, r } of real) {
      try {
        assertOneClearLine(c, files[i]!, r);
        assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: results[i]!.code, stderr: results[i]!.stderr }, `${c.name}: the process and main() say the same`);
      } catch (err) {
        failures.push(`(process) ${(err as Error).message.split('\n')[0]!}`);
      }
    }
    t.diagnostic(`${CASES.length} malformed configurations through main(), ${real.length} of them also as processes`);
    assert.deepEqual(failures, [], `${failures.length} failures over ${CASES.length} cases`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a valid configuration passes `config check` (the control), and a missing or unreadable file is a config error too', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-goodcfg-'));
  try {
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, `${SVC}routes:\n  - host: reviews\n    http: [{route: [{host: reviews}]}]\n`);
    const ok = await runCli(['config', 'check', good]);
    assert.deepEqual(ok, { code: 0, stdout: `config ${good}: valid (1 service, 1 route rule, 0 inbound ports, outbound ALLOW_ANY)\n`, stderr: '' });
    const empty = path.join(dir, 'empty.json');
    writeFileSync(empty, '{}');
    assert.equal((await runCli(['config', 'check', empty])).code, 0, '{} is the empty configuration');
    const missing = await runCli(['config', 'check', path.join(dir, 'none.yaml')]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `sidelane: config ${path.join(dir, 'none.yaml')}: cannot read the file (ENOENT); expected a readable YAML or JSON file\n`);
    const directory = await runCli(['config', 'check', dir]);
    assert.equal(directory.code, 2);
    assert.match(directory.stderr, /^sidelane: config .*: cannot read the file \(EISDIR\)/);
    const verbose = await runCli(['--verbose', 'config', 'check', path.join(dir, 'none.yaml')]);
    assert.match(verbose.stderr, /"code":"SIDELANE_ERR_CONFIG"/, '--verbose adds the details');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`run --config` refuses a sample of the cases with the very same line, before anything listens (in a pod)', { timeout: 180_000 }, async (t) => {
  await withLab(t, { prefix: 'badcfg' }, async (lab) => {
    const pod = await lab.addPod('pod');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-badcfg-run-'));
    try {
      const sample = CASES.filter((c) => ['YAML: unclosed flow sequence', 'empty file', 'document a number', 'unknown service field', 'port 70000', 'duplicate service host', 'route to an unknown host', 'weights adding up to 0', 'alias bomb ("billion laughs")', 'duration 1000h (timer overflow)'].includes(c.name));
      assert.equal(sample.length, 10);
      const files = sample.map((c, i) => {
        const file = path.join(dir, `${i}-${c.file ?? 'bad.yaml'}`);
        writeFileSync(file, c.text, 'latin1');
        return file;
      });
      const batch = spawnSync(process.execPath, [BATCH], { input: JSON.stringify(files.map((f) => ['config', 'check', f])), encoding: 'utf8', timeout: 60_000 });
      const checked = JSON.parse(batch.stdout) as Run[];
      for (const [i, c] of sample.entries()) {
        const r = await pod.exec('node', [CLI, 'run', '--config', files[i]!, '--concurrency', '1'], { allowFailure: true, timeoutMs: 30_000 });
        assertOneClearLine(c, files[i]!, { code: r.code, stdout: r.stdout, stderr: r.stderr });
        assert.equal(r.stderr, checked[i]!.stderr, `${c.name}: run and config check say the same`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
