/**
 * What the proxy process may do after start-up (issue 10): the user it runs as and the only capabilities it keeps —
 * CAP_NET_ADMIN for IP_TRANSPARENT (TPROXY listeners, binding the client's address towards the app) and SO_MARK,
 * plus CAP_NET_BIND_SERVICE only when a configured port is privileged — with no_new_privs. The reduction is planned
 * here from /proc/self/status and executed by the addon, which re-executes the program so every thread (and every
 * worker forked later) has the reduced credentials.
 */
import { readFileSync } from 'node:fs';
import { SidelaneError, UsageError } from '../errors';
import type { ReduceAndExecOptions } from '../native/addon';

/** Linux capability names by number (include/uapi/linux/capability.h). */
export const CAPABILITY_NAMES = [
  'cap_chown', 'cap_dac_override', 'cap_dac_read_search', 'cap_fowner', 'cap_fsetid', 'cap_kill', 'cap_setgid', 'cap_setuid',
  'cap_setpcap', 'cap_linux_immutable', 'cap_net_bind_service', 'cap_net_broadcast', 'cap_net_admin', 'cap_net_raw',
  'cap_ipc_lock', 'cap_ipc_owner', 'cap_sys_module', 'cap_sys_rawio', 'cap_sys_chroot', 'cap_sys_ptrace', 'cap_sys_pacct',
  'cap_sys_admin', 'cap_sys_boot', 'cap_sys_nice', 'cap_sys_resource', 'cap_sys_time', 'cap_sys_tty_config', 'cap_mknod',
  'cap_lease', 'cap_audit_write', 'cap_audit_control', 'cap_setfcap', 'cap_mac_override', 'cap_mac_admin', 'cap_syslog',
  'cap_wake_alarm', 'cap_block_suspend', 'cap_audit_read', 'cap_perfmon', 'cap_bpf', 'cap_checkpoint_restore',
] as const;
export type CapabilityName = (typeof CAPABILITY_NAMES)[number];

export function capabilityMask(names: readonly CapabilityName[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAPABILITY_NAMES.indexOf(n))), 0n);
}

/** Names of the bits set in `mask` (`cap_<n>` for numbers this table does not know). */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) out.push(CAPABILITY_NAMES[i] ?? `cap_${i}`);
  return out;
}

/** A process's credentials as /proc/<pid>/status shows them (the main thread's). */
export interface ProcessCredentials {
  /** real, effective, saved, filesystem */
  readonly uid: readonly [number, number, number, number];
  readonly gid: readonly [number, number, number, number];
  readonly groups: readonly number[];
  readonly inheritable: bigint;
  readonly permitted: bigint;
  readonly effective: bigint;
  readonly bounding: bigint;
  readonly ambient: bigint;
  readonly noNewPrivs: boolean;
}

export function parseProcStatus(text: string): ProcessCredentials {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\t?(.*)$`, 'm').exec(text);
    if (!m) throw new SidelaneError('SIDELANE_ERR_SYSCALL', `/proc status has no ${name} line`);
    return m[1]!.trim();
  };
  const ids = (name: string): [number, number, number, number] => {
    const v = field(name).split(/\s+/).map(Number);
    return [v[0]!, v[1]!, v[2]!, v[3]!];
  };
  const mask = (name: string): bigint => BigInt(`0x${field(name)}`);
  return {
    uid: ids('Uid'),
    gid: ids('Gid'),
    groups: field('Groups').split(/\s+/).filter(Boolean).map(Number),
    inheritable: mask('CapInh'),
    permitted: mask('CapPrm'),
    effective: mask('CapEff'),
    bounding: mask('CapBnd'),
    ambient: mask('CapAmb'),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}

export function readCredentials(pid: number | 'self' = 'self'): ProcessCredentials {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** `--user UID[:GID]`: numeric ids (as Kubernetes' runAsUser/runAsGroup); GID defaults to UID. */
export interface UserSpec {
  readonly uid: number;
  readonly gid: number;
}

export function parseUserSpec(flag: string, value: string): UserSpec {
  const m = /^(0|[1-9]\d{0,9})(?::(0|[1-9]\d{0,9}))?$/.exec(value);
  const uid = m ? Number(m[1]) : NaN;
  const gid = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || uid > 4294967294 || gid > 4294967294) throw new UsageError(`${flag}: expected UID or UID:GID (numeric ids 0-4294967294, e.g. 1337:1337), got '${value}'`);
  return { uid, gid };
}

/**
 * The capabilities the proxy needs: CAP_NET_ADMIN always (IP_TRANSPARENT on the TPROXY listeners and on the
 * sockets that bind a client's address towards the app; SO_MARK on upstream sockets), CAP_NET_BIND_SERVICE only
 * when a port it binds is below net.ipv4.ip_unprivileged_port_start. Not CAP_NET_RAW: CAP_NET_ADMIN alone allows
 * both socket options on every kernel.
 */
export function requiredCapabilities(ports: readonly number[], unprivilegedPortStart: number): CapabilityName[] {
  const caps: CapabilityName[] = ['cap_net_admin'];
  if (ports.some((p) => p > 0 && p < unprivilegedPortStart)) caps.push('cap_net_bind_service');
  return caps;
}

/** net.ipv4.ip_unprivileged_port_start of this network namespace (1024 when unreadable). */
export function unprivilegedPortStart(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number {
  try {
    const n = Number.parseInt(read('/proc/sys/net/ipv4/ip_unprivileged_port_start').trim(), 10);
    return Number.isInteger(n) ? n : 1024;
  } catch {
    return 1024;
  }
}

const bit = (name: CapabilityName): bigint => 1n << BigInt(CAPABILITY_NAMES.indexOf(name));
const has = (mask: bigint, name: CapabilityName): boolean => (mask & bit(name)) !== 0n;

export type PrivilegePlan =
  /** Already reduced (nothing to do), or nothing to keep and nothing held. */
  | { readonly kind: 'none' }
  /** Only no_new_privs is missing: set it in place (the workers inherit it). */
  | { readonly kind: 'no-new-privs' }
  /** Re-execute with reduced credentials. */
  | { readonly kind: 'exec'; readonly uid: number; readonly gid: number; readonly clearGroups: boolean; readonly keep: bigint; readonly dropBounding: boolean };

export interface PrivilegeTarget {
  /** Switch to this user (undefined: keep the current one). */
  readonly user: UserSpec | undefined;
  readonly keep: readonly CapabilityName[];
}

/**
 * Decides the step from the current credentials: the user to switch to, the capabilities kept (those needed that
 * the process has), the bounding set dropped when CAP_SETPCAP allows it. Throws when switching user is asked for
 * without the capabilities to do it.
 */
export function planPrivileges(now: ProcessCredentials, target: PrivilegeTarget): PrivilegePlan {
  const uid = target.user?.uid ?? now.uid[1];
  const gid = target.user?.gid ?? now.gid[1];
  const idChange = now.uid.some((u) => u !== uid) || now.gid.some((g) => g !== gid) || (target.user !== undefined && now.groups.length > 0);
  if (idChange && !(has(now.effective, 'cap_setuid') && has(now.effective, 'cap_setgid'))) {
    throw new SidelaneError(
      'SIDELANE_ERR_SYSCALL',
      `--user ${uid}:${gid}: switching user needs CAP_SETUID and CAP_SETGID; start sidelane run as root, or as that user without --user`,
    );
  }
  const keep = capabilityMask(target.keep) & now.permitted;
  const dropBounding = has(now.effective, 'cap_setpcap') && (now.bounding & ~keep) !== 0n;
  const tooMuch = ((now.permitted | now.effective | now.inheritable | now.ambient) & ~keep) !== 0n;
  // A non-root proxy passes its capabilities to the workers it forks (execve) only through the ambient set; root's
  // workers get them back from the bounding set (no_new_privs caps them at the parent's).
  const workersWouldLose = uid !== 0 && (now.ambient & keep) !== keep;
  const clearGroups = target.user !== undefined;
  if (idChange || dropBounding || tooMuch || workersWouldLose) return { kind: 'exec', uid, gid, clearGroups, keep, dropBounding };
  return now.noNewPrivs ? { kind: 'none' } : { kind: 'no-new-privs' };
}

/** One line for the start-up log and the admin API: who the proxy is and what it may do. */
export function describeCredentials(c: ProcessCredentials): string {
  const caps = capabilityNames(c.effective);
  const bounding = c.bounding === c.effective ? 'the same bounding set' : `bounding set ${capabilityNames(c.bounding).length} capabilities`;
  return `uid ${c.uid[1]} gid ${c.gid[1]}, capabilities ${caps.length ? caps.join(',') : 'none'} (${bounding})${c.noNewPrivs ? ', no_new_privs' : ''}`;
}

/** The environment variable that marks the re-executed process (so it verifies instead of re-executing again). */
export const REDUCED_MARKER = 'SIDELANE_PRIVILEGES_REDUCED';

export interface PrivilegeDeps {
  readonly credentials: () => ProcessCredentials;
  readonly reduceAndExec: (options: ReduceAndExecOptions) => never;
  readonly setNoNewPrivs: () => void;
  readonly env: NodeJS.ProcessEnv;
  /** This process's command line: [node, ...node options, script, ...args]. */
  readonly argv: readonly string[];
}

/**
 * Brings this process to the target: re-executes it with reduced credentials (does not return), or sets
 * no_new_privs, or finds it already done. In the re-executed process it checks that the reduction took and
 * clears the marker, so the workers it forks start clean. Returns the resulting credentials.
 */
export function reducePrivileges(target: PrivilegeTarget, deps: PrivilegeDeps): ProcessCredentials {
  const now = deps.credentials();
  const plan = planPrivileges(now, target);
  const reexecuted = deps.env[REDUCED_MARKER] === '1';
  delete deps.env[REDUCED_MARKER];
  if (plan.kind === 'exec') {
    if (reexecuted) {
      throw new SidelaneError('SIDELANE_ERR_SYSCALL', `the privilege reduction did not take (now ${describeCredentials(now)}); refusing to run with more than it needs`);
    }
    const env = Object.entries({ ...deps.env, [REDUCED_MARKER]: '1' })
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${k}=${v}`);
    const { uid, gid, clearGroups, keep, dropBounding } = plan;
    return deps.reduceAndExec({ uid, gid, clearGroups, keep, dropBounding, file: deps.argv[0]!, argv: deps.argv, env });
  }
  if (plan.kind === 'no-new-privs') deps.setNoNewPrivs();
  return deps.credentials();
}
