/**
 * Helpers for the capture e2e tests: run `sidelane` and the capture peer inside a pod, wait for the peer's JSON
 * events, and snapshot everything init may touch (iptables legacy and nft flavours, the nft ruleset, ip rules,
 * routes, lo's addresses) with only timestamps and counters normalised.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { Lab, Pod } from '../../src/netns/lab';
import type { CommandResult } from '../../src/netns/command';

const ROOT = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
export const PEER = path.join(ROOT, 'dist/test/support/capture-peer.js');

/** `sidelane <args>` inside the pod, with a private state directory per lab. */
export function sidelane(pod: Pod, args: readonly string[]): Promise<CommandResult> {
  return pod.exec('env', [`SIDELANE_STATE_DIR=/run/sidelane-test/${pod.lab.id}`, process.execPath, CLI, ...args], { allowFailure: true, timeoutMs: 60_000 });
}

export async function sidelaneOk(pod: Pod, args: readonly string[]): Promise<CommandResult> {
  const r = await sidelane(pod, args);
  if (r.code !== 0) throw new Error(`sidelane ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

export type PeerEvent = Record<string, unknown> & { event: string };

export class Peer {
  readonly events: PeerEvent[] = [];
  private waiters: { pred: (e: PeerEvent) => boolean; resolve: (e: PeerEvent) => void }[] = [];
  stderr = '';

  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.push(JSON.parse(line) as PeerEvent);
        } catch {
          // not an event line
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  private push(e: PeerEvent): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(e)) return true;
      w.resolve(e);
      return false;
    });
  }

  /** Resolves with the first (past or future) event matching, or rejects after timeoutMs. */
  waitFor(pred: (e: PeerEvent) => boolean, timeoutMs = 10_000): Promise<PeerEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching peer event within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }
}

/** Starts a long-running peer role in the pod and waits until it listens. */
export async function startPeer(pod: Pod, role: string, args: readonly string[] = [], options: { gid?: number } = {}): Promise<Peer> {
  const cmd = options.gid !== undefined ? ['setpriv', `--regid=${options.gid}`, '--clear-groups', process.execPath] : [process.execPath];
  const child = pod.spawn(cmd[0]!, [...cmd.slice(1), PEER, role, ...args]);
  const peer = new Peer(child);
  await peer.waitFor((e) => e.event === 'listening');
  return peer;
}

/** Runs the client role once in the pod and returns its report. */
export async function connectFrom(pod: Pod, host: string, port: number, extra: readonly string[] = []): Promise<PeerEvent> {
  const r = await pod.exec(process.execPath, [PEER, 'client', '--host', host, '--port', String(port), ...extra], { allowFailure: true, timeoutMs: 20_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as PeerEvent;
  } catch {
    throw new Error(`client gave no report (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
}

const SNAPSHOT_COMMANDS: readonly (readonly string[])[] = [
  ['iptables-legacy-save'],
  ['ip6tables-legacy-save'],
  ['iptables-nft-save'],
  ['ip6tables-nft-save'],
  ['nft', 'list', 'ruleset'],
  ['ip', 'rule'],
  ['ip', '-6', 'rule'],
  ['ip', 'route', 'show', 'table', 'all'],
  ['ip', '-6', 'route', 'show', 'table', 'all'],
  ['ip', 'addr', 'show', 'dev', 'lo'],
];

/**
 * Waits until the kernel has finished with eth0's IPv6 link-local address (it appears, with its local route, a
 * moment after the link comes up), so a snapshot taken now does not differ from a later one for that reason.
 */
export async function settle(pod: Pod): Promise<void> {
  if (!pod.ipv6) return;
  for (let i = 0; i < 100; i++) {
    const r = await pod.exec('ip', ['-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'], { allowFailure: true });
    if (/inet6 fe80::/.test(r.stdout) && !/tentative/.test(r.stdout)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Everything capture may touch, with timestamps and counters normalised (nothing else is). */
export async function snapshot(pod: Pod): Promise<string> {
  await settle(pod);
  const parts: string[] = [];
  for (const cmd of SNAPSHOT_COMMANDS) {
    const r = await pod.exec(cmd[0]!, cmd.slice(1), { allowFailure: true });
    const text = r.stdout
      .split('\n')
      .filter((l) => !/^# (Generated|Completed) /.test(l))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '[c]').replace(/counter packets \d+ bytes \d+/g, 'counter'))
      .join('\n');
    parts.push(`### ${cmd.join(' ')} (exit ${r.code})\n${text}`);
  }
  return parts.join('\n');
}

/**
 * Rules that are not sidelane's, so a round trip also proves cleanup leaves others alone. Legacy pods get legacy
 * rules in every table (the situation in which auto picks iptables-legacy; legacy tables, once instantiated, stay).
 */
export async function populateForeignRules(pod: Pod, legacy: boolean): Promise<void> {
  await pod.exec('nft', ['add table inet user; add chain inet user input { type filter hook input priority 10; }; add rule inet user input tcp dport 1234 counter accept']);
  await pod.exec('ip', ['rule', 'add', 'fwmark', '0x99', 'lookup', '99']);
  await pod.exec('ip', ['route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '99']);
  for (const bin of legacy ? ['iptables-legacy', 'ip6tables-legacy'] : ['iptables-nft', 'ip6tables-nft']) {
    await pod.exec(bin, ['-A', 'INPUT', '-p', 'tcp', '--dport', '4321', '-j', 'ACCEPT']);
    await pod.exec(bin, ['-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5353', '-j', 'RETURN']);
    if (legacy) {
      await pod.exec(bin, ['-t', 'raw', '-N', 'USER_RAW']);
      await pod.exec(bin, ['-t', 'nat', '-N', 'USER_NAT']);
    }
  }
}

interface InstalledView {
  installed: boolean;
  rules: { backend: string; family: string; reason: string }[];
  routes: string[];
}

/** init, init again (must converge), capture show, cleanup (must restore the snapshot exactly), cleanup again. */
export async function roundTrip(lab: Lab, name: string, backend: string, flags: string[]): Promise<void> {
  const pod = await lab.addPod(name);
  await populateForeignRules(pod, backend === 'iptables-legacy');
  const before = await snapshot(pod);
  await sidelaneOk(pod, ['init', '--backend', backend, ...flags]);
  const once = await snapshot(pod);
  await sidelaneOk(pod, ['init', '--backend', backend, ...flags]);
  assert.equal(await snapshot(pod), once, `${name}: a second init must converge to the same state (no duplicates)`);
  const view = JSON.parse((await sidelaneOk(pod, ['capture', 'show', '-o', 'json'])).stdout) as InstalledView;
  assert.ok(view.installed && view.rules.length > 5, `${name}: capture show lists the rules`);
  assert.ok(view.rules.every((r) => r.backend === backend && r.reason.length > 0), `${name}: every rule is ${backend}'s and has a reason`);
  if (flags.includes('--ipv6') && backend !== 'nft') assert.ok(view.rules.some((r) => r.family === 'ipv6'), `${name}: IPv6 rules installed`);
  if (flags.includes('--no-ipv6') && backend !== 'nft') assert.ok(!view.rules.some((r) => r.family === 'ipv6'), `${name}: no IPv6 rules`);
  await sidelaneOk(pod, ['cleanup', '--backend', backend, ...flags]);
  assert.equal(await snapshot(pod), before, `${name}: cleanup must restore the namespace exactly`);
  const again = await sidelaneOk(pod, ['cleanup']);
  assert.match(again.stdout, /nothing of sidelane is installed/);
}

