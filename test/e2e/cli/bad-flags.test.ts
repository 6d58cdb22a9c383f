/**
 * Every flag of every command, table-driven (issue 10 "Bad input"). The table must name every option commander
 * knows (walked from the program object): a flag added without a row fails the first test. Each value-taking flag
 * has bad values (negative, non-numeric, out of range, bad durations, unknown choices, bad CIDRs and interface
 * names, injection-shaped text, control characters) or says why any value is fine (free-text filters); each switch
 * is listed as one. Then, inside a pod's network namespace (so a wrongly accepted line could only touch the pod),
 * every bad value and every commander-level mistake (a missing value, an unknown flag, a value given to a switch,
 * missing or extra arguments) runs through the CLI's main() and must exit 2 with exactly one stderr line naming the
 * flag and what was expected, no stack trace; a sample also runs as separate `sidelane` processes that must say
 * exactly the same; and nothing was applied — no rule, route, listening socket, state file or output file appeared.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Command, Option } from 'commander';
import { buildProgram } from '../../../src/cli/main';
import type { Pod } from '../../../src/netns/lab';
import { CLI, snapshot } from '../../support/capture';
import { withLab } from '../../support/netns';

const BATCH = path.join(path.dirname(CLI), '../../test/support/cli-batch.js');

/** A bad value and what the one line must say; `mentions` defaults to the flag's long name. */
interface Bad {
  readonly value: string;
  readonly expect: RegExp;
  readonly mentions?: string;
  /**
   * Found only after the flags are accepted (`run` reads its file after the privilege step, which may re-execute the
   * process): as a real process only, never in the in-process batch.
   */
  readonly realOnly?: boolean;
}

type Row = { readonly bad: readonly Bad[] } | { readonly free: string } | 'switch';

const bad = (value: string, expect: RegExp, mentions?: string): Bad => ({ value, expect, ...(mentions !== undefined ? { mentions } : {}) });
const PORT_LIST = /expected a comma-separated list of ports 1-65535 or ranges/;

/** init and cleanup share the capture flags (cleanup validates them too, so an init line works with the verb changed). */
const CAPTURE: Readonly<Record<string, Row>> = {
  '--mode': { bad: [bad('nat', /--mode: expected one of tproxy, redirect, got 'nat'/), bad('', /--mode: expected one of tproxy, redirect, got ''/)] },
  '--outbound': { bad: [bad('all', /--outbound: expected one of hook\+tproxy, hook, tproxy, none, got 'all'/)] },
  '--inbound-port': {
    bad: [
      bad('0', /--inbound-port: expected a port number 1-65535, got '0'/),
      bad('65536', /--inbound-port: expected a port number 1-65535, got '65536'/),
      bad('-1', /--inbound-port: expected a port number 1-65535, got '-1'/),
      bad('080', /--inbound-port: expected a port number 1-65535, got '080'/),
    ],
  },
  '--outbound-port': { bad: [bad('abc', /--outbound-port: expected a port number 1-65535, got 'abc'/), bad('15006', /--inbound-port and --outbound-port: expected two different ports, got 15006 for both/)] },
  '--include-inbound-ports': { bad: [bad('*,22', /--include-inbound-ports: expected '\*' or a comma-separated list of ports/), bad('22 -j ACCEPT', /--include-inbound-ports: expected '\*' or a comma-separated list of ports/)] },
  '--exclude-inbound-ports': { bad: [bad('*', PORT_LIST), bad('22\n-A INPUT -j DROP', /--exclude-inbound-ports: .*got '22\\x0a-A INPUT -j DROP'/)] },
  '--include-outbound-cidrs': { bad: [bad('10.0.0.0/33', /--include-outbound-cidrs: expected .*prefix length 0-32/), bad('*,10.0.0.0/8', /--include-outbound-cidrs: expected/)] },
  '--exclude-outbound-cidrs': { bad: [bad('1.2.3.4/32"; flush ruleset; "', /--exclude-outbound-cidrs: expected/), bad('*', /--exclude-outbound-cidrs: expected/)] },
  '--exclude-outbound-ports': { bad: [bad('70000', PORT_LIST), bad('9-1', PORT_LIST)] },
  '--include-outbound-ports': { bad: [bad('0', PORT_LIST)] },
  '--exclude-interfaces': {
    bad: [
      bad('eth0"; flush ruleset', /--exclude-interfaces: expected a comma-separated list of interface names/),
      bad('averyveryverylongname0', /--exclude-interfaces: expected a comma-separated list of interface names/),
      bad('..', /--exclude-interfaces: expected/),
      bad('a/b', /--exclude-interfaces: expected/),
    ],
  },
  '--mark': {
    bad: [
      bad('0', /--mark: expected a non-zero 32-bit mark \(decimal or 0x-hex\), got '0'/),
      bad('0x1ffffffff', /--mark: expected a non-zero 32-bit mark/),
      bad('0x53a', /--mark and --bypass-mark: expected two different marks, got 0x53a for both/),
    ],
  },
  '--bypass-mark': { bad: [bad('-5', /--bypass-mark: expected a non-zero 32-bit mark/), bad('0x539', /--mark and --bypass-mark: expected two different marks/)] },
  '--route-table': { bad: [bad('254', /--route-table: expected a routing table number 1-4294967295 other than 253 \(default\), 254 \(main\) and 255 \(local\)/), bad('main', /--route-table: expected/), bad('0', /--route-table: expected/)] },
  '--proxy-uid': { bad: [bad('istio-proxy', /--proxy-uid: expected a comma-separated list of numeric user ids 0-4294967294/), bad('4294967295', /--proxy-uid: expected/)] },
  '--proxy-gid': { bad: [bad('-1', /--proxy-gid: expected a comma-separated list of numeric group ids/)] },
  '--backend': { bad: [bad('ebpf', /--backend: expected one of auto, nft, iptables, iptables-legacy, iptables-nft, got 'ebpf'/)] },
  '--no-preserve-source': 'switch',
  '--no-notrack': 'switch',
  '--ipv6': 'switch',
  '--no-ipv6': 'switch',
  '--dry-run': 'switch',
};

const DURATION = (flag: string, value: string): Bad => bad(value, new RegExp(`${flag}: expected a duration like 500ms, 5s, 1m or 1h, got '${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
const TOO_LONG = (flag: string): Bad => bad('1000h', new RegExp(`${flag}: expected a duration of at most 596h, got '1000h'`));
const ADMIN: Row = {
  bad: [
    bad('ftp://x', /--admin: expected a URL like http:\/\/127\.0\.0\.1:15000, got 'ftp:\/\/x'/),
    bad('notaurl', /--admin: expected a URL like http:\/\/127\.0\.0\.1:15000/),
    bad('http://', /--admin: expected a URL/),
  ],
};
const PC_OUTPUT: Row = { bad: [bad('yaml', /-o\/--output: expected one of table, json, got 'yaml'/, '--output')] };
const PC_PORT: Row = { bad: [bad('0', /--port: expected a port number 1-65535, got '0'/), bad('http', /--port: expected a port number/)] };
const PC_ADDRESS: Row = { bad: [bad('foo', /--address: expected an IPv4 or IPv6 address, got 'foo'/), bad('198.18.0.1/24', /--address: expected an IPv4 or IPv6 address/)] };
const PC_DIRECTION: Row = { bad: [bad('up', /--direction: expected one of inbound, outbound, got 'up'/)] };
const COUNT = (flag: string, value: string, min: number, max: number): Bad => bad(value, new RegExp(`${flag}: expected an integer ${min}-${max}, got '${value}'`));

/** Rows keyed `<command path> <long flag>` (the program's own options: `sidelane <long flag>`). */
const TABLE: Readonly<Record<string, Row>> = {
  'sidelane --verbose': 'switch',
  ...Object.fromEntries(Object.entries(CAPTURE).map(([flag, row]) => [`init ${flag}`, row])),
  'init --hook-dir': { bad: [bad('', /--hook-dir: expected a directory path, got ''/), bad('   ', /--hook-dir: expected a directory path, got '   '/)] },
  ...Object.fromEntries(Object.entries(CAPTURE).map(([flag, row]) => [`cleanup ${flag}`, row])),
  'capture show --output': { bad: [bad('yaml', /--output: expected one of text, json, got 'yaml'/)] },
  'run --config': { bad: [bad('', /--config: expected a file path, got ''/), { ...bad('/nonexistent/sidelane.yaml', /^sidelane: config \/nonexistent\/sidelane\.yaml: cannot read the file \(ENOENT\); expected a readable YAML or JSON file$/, 'config /nonexistent'), realOnly: true }] },
  'run --concurrency': { bad: [COUNT('--concurrency', '0', 1, 64), COUNT('--concurrency', '65', 1, 64), COUNT('--concurrency', 'two', 1, 64), COUNT('--concurrency', '1.5', 1, 64)] },
  'run --inbound-port': { bad: [bad('0', /--inbound-port: expected a port number 1-65535, got '0'/), bad('15001', /--inbound-port and --outbound-port: expected different ports, got 15001 for both/)] },
  'run --outbound-port': { bad: [bad('70000', /--outbound-port: expected a port number 1-65535, got '70000'/), bad('15000', /--outbound-port and --admin-port: expected different ports, got 15000 for both/)] },
  'run --capture-mode': { bad: [bad('nat', /--capture-mode: expected one of tproxy, redirect, got 'nat'/)] },
  'run --bypass-mark': { bad: [bad('0', /--bypass-mark: expected a non-zero 32-bit mark \(decimal or 0x-hex\), got '0'/), bad('0x', /--bypass-mark: expected/)] },
  'run --no-bypass-mark': 'switch',
  'run --user': {
    bad: [
      bad('root', /--user: expected UID or UID:GID \(numeric ids 0-4294967294, e\.g\. 1337:1337\), got 'root'/),
      bad('1337:x', /--user: expected UID or UID:GID/),
      bad('4294967295', /--user: expected UID or UID:GID/),
      bad('1\n2', /--user: expected UID or UID:GID .*, got '1\\n2'/),
    ],
  },
  'run --no-preserve-source': 'switch',
  'run --no-ipv6': 'switch',
  'run --connect-timeout': { bad: [DURATION('--connect-timeout', '5x'), DURATION('--connect-timeout', '-1s'), TOO_LONG('--connect-timeout')] },
  'run --idle-timeout': { bad: [DURATION('--idle-timeout', '-1'), bad('700h', /--idle-timeout: expected a duration of at most 596h/)] },
  'run --proxy-header-timeout': { bad: [bad('0', /--proxy-header-timeout: expected a duration of at least 1ms, got '0'/), DURATION('--proxy-header-timeout', '3 s')] },
  'run --request-headers-timeout': { bad: [TOO_LONG('--request-headers-timeout'), DURATION('--request-headers-timeout', 'ten')] },
  'run --admin-port': { bad: [bad('70000', /--admin-port: expected a port number 0-65535, got '70000'/), bad('15006', /--inbound-port and --admin-port: expected different ports, got 15006 for both/)] },
  'run --no-admin': 'switch',
  'run --health-port': { bad: [bad('x', /--health-port: expected a port number 0-65535, got 'x'/), bad('15090', /--health-port and --metrics-port: expected different ports/)] },
  'run --no-health': 'switch',
  'run --metrics-port': { bad: [bad('-1', /--metrics-port: expected a port number 0-65535, got '-1'/)] },
  'run --no-metrics': 'switch',
  'run --drain-time': { bad: [TOO_LONG('--drain-time'), DURATION('--drain-time', '5sec')] },
  'run --log-level': { bad: [bad('loud', /--log-level: expected one of trace, debug, info, warn, error, fatal, silent, got 'loud'/), bad('INFO', /--log-level: expected one of/)] },
  'run --access-log': { bad: [bad('', /--access-log: expected '-' \(stdout\), 'off' or a file path, got ''/), bad('a\nb', /--access-log: expected .*, got 'a\\x0ab'/)] },
  'run --mesh-cluster': { bad: [bad('a/b', /--mesh-cluster: expected a cluster id \(1-63 of A-Z a-z 0-9 \. _ -, starting and ending with a letter or digit\), got 'a\/b'/), bad('', /--mesh-cluster: expected a cluster id/)] },
  'run --data-path': { bad: [bad('fast', /--data-path: expected one of native, js, got 'fast'/)] },
  'proxy-config listeners --port': PC_PORT,
  'proxy-config listeners --address': PC_ADDRESS,
  'proxy-config listeners --direction': PC_DIRECTION,
  'proxy-config listeners --admin': ADMIN,
  'proxy-config listeners --output': PC_OUTPUT,
  'proxy-config routes --name': { free: 'a filter: any route configuration name (9080, inbound|9080||) is a valid query' },
  'proxy-config routes --admin': ADMIN,
  'proxy-config routes --output': PC_OUTPUT,
  'proxy-config clusters --fqdn': { free: 'a filter: any host or host prefix is a valid query' },
  'proxy-config clusters --port': PC_PORT,
  'proxy-config clusters --subset': { free: 'a filter: any subset name is a valid query' },
  'proxy-config clusters --direction': PC_DIRECTION,
  'proxy-config clusters --admin': ADMIN,
  'proxy-config clusters --output': PC_OUTPUT,
  'proxy-config endpoints --cluster': { free: 'a filter: any cluster name is a valid query' },
  'proxy-config endpoints --port': PC_PORT,
  'proxy-config endpoints --address': PC_ADDRESS,
  'proxy-config endpoints --status': { bad: [bad('sick', /--status: expected one of healthy, unhealthy, got 'sick'/)] },
  'proxy-config endpoints --admin': ADMIN,
  'proxy-config endpoints --output': PC_OUTPUT,
  'exec --outbound-port': { bad: [bad('0', /--outbound-port: expected a port 1-65535, got "0"/), bad('70000', /--outbound-port: expected a port 1-65535, got "70000"/)] },
  'exec --exclude-cidrs': { bad: [bad('foo', /--exclude-cidrs: "foo" is not a CIDR like 10\.0\.0\.0\/8 or fd00::\/8/), bad('10.0.0.0/33', /--exclude-cidrs: "10\.0\.0\.0\/33" is not a CIDR/), bad('a\nb', /--exclude-cidrs: "a\\nb" is not a CIDR/)] },
  'exec --exclude-ports': { bad: [bad('9-1', /--exclude-ports: "9-1" is not a port 1-65535 or a range like 8000-8100/), bad('0', /--exclude-ports: "0" is not a port/)] },
  'exec --include-cidrs': { bad: [bad('x', /--include-cidrs: "x" is not a CIDR/)] },
  'exec --proxy-ports': { bad: [bad('abc', /--proxy-ports: "abc" is not a port/)] },
  'exec --on-proxy-down': { bad: [bad('sometimes', /--on-proxy-down: expected wait:<ms> \(0-600000\), open or closed, got "sometimes"/), bad('wait:-1', /--on-proxy-down: expected wait:<ms>/), bad('wait:9999999', /--on-proxy-down: expected wait:<ms>/)] },
  'exec --hook-log': 'switch',
  'inject --filename': { bad: [bad('', /-f\/--filename: cannot read "" \(ENOENT\); expected a manifest file, or - for stdin/), bad('/nonexistent/pod.yaml', /-f\/--filename: cannot read "\/nonexistent\/pod\.yaml" \(ENOENT\)/)] },
  'inject --output': { bad: [bad('', /-o\/--output: expected a file path, got ''/)] },
  'inject --image': { bad: [bad('UPPER CASE', /--image "UPPER CASE": expected an image reference such as ghcr\.io\/sidelane\/sidelane:0\.1\.0/)] },
  'inject --native-sidecar': { bad: [bad('maybe', /--native-sidecar "maybe": expected true or false/)] },
  'inject --config-map': { bad: [bad('Bad_Name', /--config-map "Bad_Name": expected a ConfigMap name/)] },
  'bench --modes': { bad: [bad('nope', /--modes: unknown 'nope'; expected a comma-separated list of direct, redirect/), bad('', /--modes: expected a comma-separated list of direct/)] },
  'bench --scenarios': { bad: [bad('nope', /--scenarios: unknown 'nope'; expected a comma-separated list of keep-alive/)] },
  'bench --repeat': { bad: [COUNT('--repeat', '0', 1, 100), COUNT('--repeat', '101', 1, 100)] },
  'bench --duration': { bad: [bad('100ms', /--duration: expected 500ms to 10m, got '100ms'/), DURATION('--duration', 'abc')] },
  'bench --warmup': { bad: [bad('11m', /--warmup: expected at most 10m, got '11m'/), TOO_LONG('--warmup')] },
  'bench --connections': { bad: [COUNT('--connections', '0', 1, 4096)] },
  'bench --concurrency': { bad: [COUNT('--concurrency', '65', 1, 64)] },
  'bench --rate': { bad: [COUNT('--rate', '0', 1, 1_000_000)] },
  'bench --idle-connections': { bad: [COUNT('--idle-connections', '9001', 1, 9000)] },
  'bench --burst-connections': { bad: [COUNT('--burst-connections', '5', 10, 20_000)] },
  'bench --json': { bad: [bad('', /--json: expected a file path, got ''/)] },
  'bench --svg': { bad: [bad('', /--svg: expected a file path, got ''/)] },
  'bench --markdown': { bad: [bad('', /--markdown: expected a file path, got ''/)] },
  'bench --quick': 'switch',
  'bench --keep': 'switch',
  'bench --from-json': { bad: [bad('/nonexistent/result.json', /--from-json: cannot read \/nonexistent\/result\.json as JSON: ENOENT/), bad('/etc/hostname', /--from-json: cannot read \/etc\/hostname as JSON: /)] },
  'demo --requests': { bad: [COUNT('--requests', '0', 1, 100_000), COUNT('--requests', 'abc', 1, 100_000)] },
  'demo --jason-requests': { bad: [COUNT('--jason-requests', '-1', 0, 100_000)] },
  'demo --concurrency': { bad: [COUNT('--concurrency', '300', 1, 256)] },
  'demo --json': { bad: [bad('', /--json: expected a file path or '-' \(stdout\), got ''/)] },
  'demo --keep': 'switch',
  'demo --down': { bad: [bad('', /--down: expected a demo mesh id like demo-1a2b3c/), bad('Bad/Id', /--down: expected a demo mesh id/)] },
  'version --output': { bad: [bad('yaml', /--output: expected one of text, json, got 'yaml'/)] },
};

/** Arguments a command needs around the flag under test to get as far as validating it. */
function surround(commandPath: string, flagArgs: readonly string[]): string[] {
  const head = commandPath === 'sidelane' ? [] : commandPath.split(' ');
  if (commandPath === 'exec') return [...head, ...flagArgs, '--', 'true'];
  if (commandPath === 'inject' && flagArgs[0] !== '--filename') return [...head, '-f', '/dev/null', ...flagArgs];
  if (commandPath === 'sidelane') return [...flagArgs, 'version', '-o', 'yaml'];
  return [...head, ...flagArgs];
}

interface OptionInfo {
  readonly key: string;
  readonly commandPath: string;
  readonly option: Option;
}

function allOptions(): OptionInfo[] {
  const out: OptionInfo[] = [];
  const walk = (cmd: Command, commandPath: string): void => {
    for (const option of cmd.options) out.push({ key: `${commandPath} ${option.long ?? option.short}`, commandPath, option });
    for (const sub of cmd.commands) walk(sub, commandPath === 'sidelane' ? sub.name() : `${commandPath} ${sub.name()}`);
  };
  walk(buildProgram(), 'sidelane');
  return out;
}

function allCommands(): string[] {
  const out: string[] = [];
  const walk = (cmd: Command, commandPath: string): void => {
    out.push(commandPath);
    for (const sub of cmd.commands) walk(sub, commandPath === 'sidelane' ? sub.name() : `${commandPath} ${sub.name()}`);
  };
  walk(buildProgram(), 'sidelane');
  return out;
}

test('the table covers every option of every command (a new flag needs its bad values here)', () => {
  const options = allOptions();
  const keys = options.map((o) => o.key);
  assert.deepEqual(keys.filter((k) => TABLE[k] === undefined), [], 'options without a row in TABLE');
  assert.deepEqual(Object.keys(TABLE).filter((k) => !keys.includes(k)), [], 'rows in TABLE for options that do not exist');
  for (const { key, option } of options) {
    const row = TABLE[key]!;
    const takesValue = option.required || option.optional;
    assert.equal(row === 'switch', !takesValue, `${key}: a switch row exactly for options without a value`);
    if (row !== 'switch' && 'bad' in row) assert.ok(row.bad.length > 0, `${key}: at least one bad value`);
  }
});

interface Line {
  readonly args: readonly string[];
  readonly expect: RegExp;
  readonly mentions: string | undefined;
  /** Run as its own `sidelane` process too (else only in the batch, in-process). */
  readonly real?: boolean;
  /** Only as its own process (see Bad.realOnly). */
  readonly realOnly?: boolean;
}

/** Exactly one line on stderr, exit 2, naming what it must, no stack trace, nothing on stdout. */
function checkOneLine(l: Line, r: { code: number; stdout: string; stderr: string }): string | undefined {
  const what = `sidelane ${JSON.stringify(l.args)} → exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`;
  if (r.code !== 2) return `${what}: expected exit 2`;
  if (r.stdout !== '') return `${what}: expected nothing on stdout, got ${JSON.stringify(r.stdout.slice(0, 200))}`;
  if (!r.stderr.endsWith('\n') || r.stderr.indexOf('\n') !== r.stderr.length - 1) return `${what}: expected exactly one line`;
  if (/^\s+at |Error:|\.js:\d+|UNCAUGHT/m.test(r.stderr)) return `${what}: a stack trace or error class`;
  const line = r.stderr.slice(0, -1);
  if (!line.startsWith('sidelane: ')) return `${what}: expected to start with "sidelane: "`;
  if (l.mentions !== undefined && !line.includes(l.mentions)) return `${what}: expected it to name ${l.mentions}`;
  if (!l.expect.test(line)) return `${what}: expected ${l.expect}`;
  return undefined;
}

/**
 * Bad values: the semantic checks, all through main() in the batch. As their own `sidelane` processes too: the first
 * bad value of every `init` flag (the command that changes the namespace) and of the first two value flags of every
 * other command — a Node start-up for each of the 185 would take this file past a minute on a shared 2-core machine.
 */
function badValueLines(): Line[] {
  const out: Line[] = [];
  const realFlags = new Map<string, number>();
  for (const { key, commandPath, option } of allOptions()) {
    const row = TABLE[key];
    if (row === undefined || row === 'switch' || !('bad' in row)) continue;
    const n = realFlags.get(commandPath) ?? 0;
    const real = commandPath === 'init' || n < 2;
    realFlags.set(commandPath, n + 1);
    row.bad.forEach((b, i) =>
      out.push({ args: surround(commandPath, [option.long!, b.value]), expect: b.expect, mentions: b.mentions ?? option.long, real: (real && i === 0) || b.realOnly === true, realOnly: b.realOnly === true }),
    );
  }
  return out;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Commander's own checks, for every option and command: missing values, values given to switches, unknown flags. */
function commanderLines(): Line[] {
  const out: Line[] = [];
  for (const { commandPath, option } of allOptions()) {
    const long = option.long!;
    if (option.required) {
      // The flag last, with nothing after it (exec's command would be taken as the value: leave it out).
      const head = commandPath === 'sidelane' ? [] : commandPath.split(' ');
      const args = commandPath === 'inject' && long !== '--filename' ? [...head, '-f', '/dev/null', long] : [...head, long];
      out.push({ args, expect: new RegExp(`^sidelane: option '${escape(option.flags)}' argument missing; \`sidelane( [a-z-]+)* --help\` lists the usage$`), mentions: long });
    } else if (!option.optional) {
      out.push({ args: surround(commandPath, [`${long}=yes`]), expect: new RegExp(`^sidelane: unknown option '${escape(long)}=yes'`), mentions: long });
    }
  }
  for (const commandPath of allCommands()) {
    // (inject's required -f is reported before an unknown flag: give it one.)
    const head = commandPath === 'sidelane' ? [] : commandPath === 'inject' ? ['inject', '-f', '/dev/null'] : commandPath.split(' ');
    out.push({ args: [...head, '--no-such-flag'], expect: /^sidelane: unknown option '--no-such-flag'; `sidelane( [a-z-]+)* --help` lists the usage$/, mentions: '--no-such-flag' });
  }
  out.push(
    { args: ['no-such-command'], expect: /^sidelane: unknown command 'no-such-command'/, mentions: undefined },
    { args: ['exec'], expect: /^sidelane: missing required argument 'command'; `sidelane exec --help` lists the usage$/, mentions: undefined },
    { args: ['config', 'check'], expect: /^sidelane: missing required argument 'file'/, mentions: undefined },
    { args: ['config', 'check', 'a.yaml', 'b.yaml'], expect: /^sidelane: too many arguments for 'check'\. Expected 1 argument but got 2\./, mentions: undefined },
    { args: ['inject'], expect: /^sidelane: required option '-f, --filename <file>' not specified/, mentions: '--filename' },
    { args: ['version', 'extra'], expect: /^sidelane: too many arguments for 'version'/, mentions: undefined },
    { args: ['demo', '--keep', '--down'], expect: /^sidelane: --down: expected on its own \(it removes kept meshes\), not with --keep$/, mentions: '--down' },
    { args: ['exec', '--hook-log=1', '--', 'true'], expect: /^sidelane: unknown option '--hook-log=1' \(did you mean --hook-log\?\)/, mentions: '--hook-log' },
  );
  return out;
}

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

/** What a wrongly accepted line could have changed in the pod: rules, routes, listeners, the state directory. */
async function podState(pod: Pod, stateDir: string): Promise<string> {
  const listening = await pod.exec('ss', ['-Hltnu'], { allowFailure: true });
  return `${await snapshot(pod)}\n### listening\n${listening.stdout}\n### state dir exists: ${existsSync(stateDir)}`;
}

test('every bad flag value and every commander-level mistake: exit 2, one clear line, nothing applied', { timeout: 300_000 }, async (t) => {
  await withLab(t, { prefix: 'badflag' }, async (lab) => {
    const pod = await lab.addPod('pod');
    const stateDir = `/run/sidelane-test/${lab.id}`;
    const outputs = mkdtempSync(path.join(os.tmpdir(), 'sl-badflag-'));
    const env = ['env', `SIDELANE_STATE_DIR=${stateDir}`, `TMPDIR=${outputs}`];
    try {
      const before = await podState(pod, stateDir);
      // Output files a wrongly accepted line would write.
      const withOutputs = (args: readonly string[]): string[] => {
        if (args[0] === 'inject' && !args.includes('--output')) return [...args, '--output', path.join(outputs, 'injected.yaml')];
        if (args[0] === 'bench' && !['--json', '--svg', '--markdown'].includes(args[1]!)) return [...args, '--json', path.join(outputs, 'bench.json')];
        return [...args];
      };

      const values = badValueLines().map((l) => ({ ...l, args: withOutputs(l.args) }));
      const commander = commanderLines();
      // Everything through the batch (main() in one process); the first bad value of each flag, and a sample of the
      // commander-level lines, also as real processes — which must say exactly what the batch said.
      const all = [...values, ...commander];
      const batched = all.filter((l) => l.realOnly !== true);
      const batch = await pod.exec(env[0]!, [...env.slice(1), process.execPath, BATCH], { allowFailure: true, timeoutMs: 120_000, input: JSON.stringify(batched.map((l) => l.args)) });
      assert.equal(batch.code, 0, `the batch runner: ${batch.stderr}`);
      const results = JSON.parse(batch.stdout) as { code: number; stdout: string; stderr: string }[];
      assert.equal(results.length, batched.length);
      const failures = batched.map((l, i) => checkOneLine(l, results[i]!)).filter((f): f is string => f !== undefined);
      const real = all.filter((l, i) => l.real === true || (i >= values.length && (i - values.length) % 25 === 0));
      const realFailures = (
        await pooled(real, 2, async (l) => {
          const r = await pod.exec(env[0]!, [...env.slice(1), process.execPath, CLI, ...l.args], { allowFailure: true, timeoutMs: 30_000 });
          const inProcess = l.realOnly === true ? undefined : results[batched.indexOf(l)]!;
          const same =
            inProcess === undefined || (r.code === inProcess.code && r.stderr === inProcess.stderr)
              ? undefined
              : `real and in-process differ on ${JSON.stringify(l.args)}: ${JSON.stringify(r.stderr)} vs ${JSON.stringify(inProcess.stderr)}`;
          return checkOneLine(l, r) ?? same;
        })
      ).filter((f): f is string => f !== undefined);

      t.diagnostic(`${values.length} bad values and ${commander.length} commander-level lines: ${batched.length} through main() in one process, ${real.length} as real processes`);
      assert.deepEqual(failures, [], `${failures.length} of ${all.length} lines`);
      assert.deepEqual(realFailures, [], `${realFailures.length} of ${real.length} real processes`);
      assert.equal(await podState(pod, stateDir), before, 'nothing applied: no rule, route, listener or state file');
      assert.deepEqual(readdirSync(outputs), [], 'no output file written');
    } finally {
      rmSync(outputs, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

test('the control: the same surroundings with good values pass validation (so the bad values are what fails)', { timeout: 60_000 }, () => {
  // Commands that only read or print (exec runs `true`): each must exit 0, so surround() gets them past validation.
  const good: string[][] = [
    ['--verbose', 'version', '-o', 'json'],
    surround('exec', ['--outbound-port', '15001', '--exclude-cidrs', '10.0.0.0/8', '--on-proxy-down', 'open']),
    surround('inject', ['--image', 'ghcr.io/sidelane/sidelane:1.0.0', '--native-sidecar', 'false']),
  ];
  for (const args of good) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `${JSON.stringify(args)}: ${r.stderr}`);
  }
});
