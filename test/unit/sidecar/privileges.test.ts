/**
 * Planning the proxy's privilege reduction: /proc status parsing, --user parsing, the capabilities needed, and the
 * step chosen from the current credentials (re-execute, set no_new_privs only, or nothing), with the re-executed
 * process verifying instead of re-executing again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SidelaneError, UsageError } from '../../../src/errors';
import {
  capabilityMask,
  capabilityNames,
  describeCredentials,
  parseProcStatus,
  parseUserSpec,
  planPrivileges,
  REDUCED_MARKER,
  reducePrivileges,
  requiredCapabilities,
  type ProcessCredentials,
} from '../../../src/sidecar/privileges';

const FULL = 0x1ffffffffffn;
const NET_ADMIN = 0x1000n;

const ROOT: ProcessCredentials = { uid: [0, 0, 0, 0], gid: [0, 0, 0, 0], groups: [0], inheritable: 0n, permitted: FULL, effective: FULL, bounding: FULL, ambient: 0n, noNewPrivs: false };
const REDUCED_1337: ProcessCredentials = { uid: [1337, 1337, 1337, 1337], gid: [1337, 1337, 1337, 1337], groups: [], inheritable: NET_ADMIN, permitted: NET_ADMIN, effective: NET_ADMIN, bounding: NET_ADMIN, ambient: NET_ADMIN, noNewPrivs: true };

test('parses /proc/<pid>/status (ids, groups, the five capability sets, no_new_privs)', () => {
  const text = [
    'Name:\tnode',
    'Uid:\t1337\t1337\t1337\t1337',
    'Gid:\t1337\t1337\t1337\t1337',
    'Groups:\t ',
    'CapInh:\t0000000000001000',
    'CapPrm:\t0000000000001000',
    'CapEff:\t0000000000001000',
    'CapBnd:\t000001ffffffffff',
    'CapAmb:\t0000000000001000',
    'NoNewPrivs:\t1',
  ].join('\n');
  const c = parseProcStatus(text);
  assert.deepEqual(c, { ...REDUCED_1337, bounding: FULL });
  assert.deepEqual(parseProcStatus(text.replace('Groups:\t ', 'Groups:\t0 4 27')).groups, [0, 4, 27]);
});

test('capability names and masks agree with the kernel numbering', () => {
  assert.equal(capabilityMask(['cap_net_admin']), NET_ADMIN);
  assert.equal(capabilityMask(['cap_net_admin', 'cap_net_bind_service']), 0x1400n);
  assert.deepEqual(capabilityNames(0x3000n), ['cap_net_admin', 'cap_net_raw']);
  assert.equal(capabilityNames(FULL).length, 41);
  assert.deepEqual(capabilityNames(1n << 45n), ['cap_45']);
});

test('--user: UID or UID:GID, numeric; GID defaults to UID; anything else exits 2 naming the flag', () => {
  assert.deepEqual(parseUserSpec('--user', '1337'), { uid: 1337, gid: 1337 });
  assert.deepEqual(parseUserSpec('--user', '1337:0'), { uid: 1337, gid: 0 });
  assert.deepEqual(parseUserSpec('--user', '0'), { uid: 0, gid: 0 });
  for (const bad of ['istio-proxy', '1337:', ':1337', '-1', '01337', '4294967295', '1337:1337:1', ' 1337', '1337\n', '']) {
    assert.throws(() => parseUserSpec('--user', bad), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message.startsWith('--user: expected UID or UID:GID'), bad);
  }
});

test('needed capabilities: NET_ADMIN always; NET_BIND_SERVICE only for a privileged port', () => {
  assert.deepEqual(requiredCapabilities([15006, 15001, 15000, 15021, 15090], 1024), ['cap_net_admin']);
  assert.deepEqual(requiredCapabilities([15006, 15001, 0, 80, 15090], 1024), ['cap_net_admin', 'cap_net_bind_service']);
  assert.deepEqual(requiredCapabilities([15006, 15001, 80], 0), ['cap_net_admin'], 'ip_unprivileged_port_start 0: every port is unprivileged');
});

const keep = ['cap_net_admin'] as const;

test('root, no --user: re-execute as root with only NET_ADMIN, dropping the bounding set', () => {
  assert.deepEqual(planPrivileges(ROOT, { user: undefined, keep }), { kind: 'exec', uid: 0, gid: 0, clearGroups: false, keep: NET_ADMIN, dropBounding: true });
});

test('root, --user 1337: re-execute as 1337:1337 with only NET_ADMIN', () => {
  assert.deepEqual(planPrivileges(ROOT, { user: { uid: 1337, gid: 1337 }, keep }), { kind: 'exec', uid: 1337, gid: 1337, clearGroups: true, keep: NET_ADMIN, dropBounding: true });
});

test('already reduced (the re-executed process, or a container given exactly NET_ADMIN): nothing, or only no_new_privs', () => {
  assert.deepEqual(planPrivileges(REDUCED_1337, { user: { uid: 1337, gid: 1337 }, keep }), { kind: 'none' });
  assert.deepEqual(planPrivileges(REDUCED_1337, { user: undefined, keep }), { kind: 'none' });
  assert.deepEqual(planPrivileges({ ...REDUCED_1337, noNewPrivs: false, bounding: FULL }, { user: undefined, keep }), { kind: 'no-new-privs' });
});

test('root given exactly NET_ADMIN (Istio-style securityContext: drop ALL, add NET_ADMIN; no ambient set): nothing to re-execute for', () => {
  const k8s: ProcessCredentials = { ...ROOT, groups: [], inheritable: 0n, permitted: NET_ADMIN, effective: NET_ADMIN, bounding: NET_ADMIN, noNewPrivs: true };
  assert.deepEqual(planPrivileges(k8s, { user: undefined, keep }), { kind: 'none' });
  assert.deepEqual(planPrivileges({ ...k8s, noNewPrivs: false }, { user: undefined, keep }), { kind: 'no-new-privs' });
});

test('non-root holding NET_ADMIN but not in the ambient set (file capabilities): re-execute so the workers get it too', () => {
  const fileCaps: ProcessCredentials = { ...REDUCED_1337, inheritable: 0n, ambient: 0n, bounding: FULL };
  assert.deepEqual(planPrivileges(fileCaps, { user: undefined, keep }), { kind: 'exec', uid: 1337, gid: 1337, clearGroups: false, keep: NET_ADMIN, dropBounding: false });
});

test('non-root with extra ambient capabilities and no CAP_SETPCAP: re-execute keeping NET_ADMIN, bounding set left as it is', () => {
  const extra = 0x201000n | 0x2000n; // net_admin, sys_admin, net_raw
  const now: ProcessCredentials = { ...REDUCED_1337, inheritable: extra, permitted: extra, effective: extra, ambient: extra, bounding: FULL, noNewPrivs: false };
  assert.deepEqual(planPrivileges(now, { user: undefined, keep }), { kind: 'exec', uid: 1337, gid: 1337, clearGroups: false, keep: NET_ADMIN, dropBounding: false });
});

test('an unprivileged process keeps nothing and only sets no_new_privs; --user to another user is refused before anything', () => {
  const nobody: ProcessCredentials = { uid: [65534, 65534, 65534, 65534], gid: [65534, 65534, 65534, 65534], groups: [], inheritable: 0n, permitted: 0n, effective: 0n, bounding: FULL, ambient: 0n, noNewPrivs: false };
  assert.deepEqual(planPrivileges(nobody, { user: undefined, keep }), { kind: 'no-new-privs' });
  assert.deepEqual(planPrivileges(nobody, { user: { uid: 65534, gid: 65534 }, keep }), { kind: 'no-new-privs' });
  assert.throws(() => planPrivileges(nobody, { user: { uid: 1337, gid: 1337 }, keep }), (e: unknown) => e instanceof SidelaneError && e.exitCode === 1 && /--user 1337:1337: switching user needs CAP_SETUID and CAP_SETGID/.test(e.message));
});

function deps(sequence: ProcessCredentials[], env: NodeJS.ProcessEnv) {
  const calls: { exec?: unknown; nnp: number } = { nnp: 0 };
  let i = 0;
  return {
    calls,
    deps: {
      credentials: () => sequence[Math.min(i++, sequence.length - 1)]!,
      reduceAndExec: (o: unknown): never => {
        calls.exec = o;
        throw new Error('exec');
      },
      setNoNewPrivs: () => void calls.nnp++,
      env,
      argv: ['/usr/bin/node', '--enable-source-maps', '/x/main.js', 'run', '--user', '1337'],
    },
  };
}

test('reducePrivileges re-executes the same command line with the marker; the re-executed process verifies and clears it', () => {
  const env: NodeJS.ProcessEnv = { PATH: '/bin', UNSET: undefined };
  const first = deps([ROOT], env);
  assert.throws(() => reducePrivileges({ user: { uid: 1337, gid: 1337 }, keep }, first.deps), /exec/);
  assert.deepEqual(first.calls.exec, {
    uid: 1337,
    gid: 1337,
    clearGroups: true,
    keep: NET_ADMIN,
    dropBounding: true,
    file: '/usr/bin/node',
    argv: ['/usr/bin/node', '--enable-source-maps', '/x/main.js', 'run', '--user', '1337'],
    env: ['PATH=/bin', `${REDUCED_MARKER}=1`],
  });
  const env2: NodeJS.ProcessEnv = { PATH: '/bin', [REDUCED_MARKER]: '1' };
  const second = deps([REDUCED_1337], env2);
  assert.deepEqual(reducePrivileges({ user: { uid: 1337, gid: 1337 }, keep }, second.deps), REDUCED_1337);
  assert.equal(env2[REDUCED_MARKER], undefined, 'the workers must not inherit the marker');
  assert.equal(second.calls.exec, undefined);
});

test('a re-executed process that still holds too much refuses to run rather than loop', () => {
  const d = deps([ROOT], { [REDUCED_MARKER]: '1' });
  assert.throws(() => reducePrivileges({ user: undefined, keep }, d.deps), (e: unknown) => e instanceof SidelaneError && /the privilege reduction did not take/.test(e.message));
  assert.equal(d.calls.exec, undefined);
});

test('describeCredentials says who and what, in one line', () => {
  assert.equal(describeCredentials(REDUCED_1337), 'uid 1337 gid 1337, capabilities cap_net_admin (the same bounding set), no_new_privs');
  assert.equal(describeCredentials({ ...REDUCED_1337, bounding: FULL, noNewPrivs: false }), 'uid 1337 gid 1337, capabilities cap_net_admin (bounding set 41 capabilities)');
});
