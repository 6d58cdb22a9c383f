/**
 * init / cleanup orchestration against a scripted namespace (a fake command runner, a fake libnftables, in-memory
 * state): the auto backend rule, what is applied in which order, rollback of the policy routes when the rules fail,
 * the state file (kept across re-runs, ignored when stale), and cleanup of everything recorded or discovered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SidelaneError } from '../../../src/errors';
import type { CommandResult, CommandRunner, RunOptions } from '../../../src/netns/command';
import { CommandError } from '../../../src/netns/command';
import type { NftResult } from '../../../src/native/addon';
import { detectBackend } from '../../../src/capture/backend-detection';
import type { NamespaceFiles } from '../../../src/capture/environment';
import { cleanupCapture, initCapture, type CaptureDeps } from '../../../src/capture/installer';
import type { NftRunner } from '../../../src/capture/nft-backend';
import { MemoryStateStore } from '../../../src/capture/state';
import { captureOptionsFromFlags } from '../../../src/capture/validation';

/** A namespace as the commands see it: iptables-save texts, ip rules and routes, lo's ::6. */
class FakeNamespace implements CommandRunner {
  readonly calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  saves = new Map<string, string>();
  rules: { family: number; fwmark: number; table: number }[] = [];
  routes: { family: number; table: number }[] = [];
  hasSix = false;
  failRestore = false;

  async run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ cmd, args, ...(options.input !== undefined ? { input: options.input } : {}) });
    const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
    if (cmd.endsWith('-save')) return ok(this.saves.get(cmd) ?? '');
    if (cmd.endsWith('-restore')) {
      if (this.failRestore) throw new CommandError(cmd, args, { code: 2, stdout: '', stderr: 'iptables-restore: line 3 failed' });
      return ok();
    }
    if (cmd !== 'ip') throw new Error(`unexpected command ${cmd}`);
    const family = Number(args[0]!.slice(1));
    const rest = args.slice(1).join(' ');
    if (rest === '-j rule show') {
      return ok(JSON.stringify(this.rules.filter((r) => r.family === family).map((r) => ({ fwmark: `0x${r.fwmark.toString(16)}`, table: String(r.table), protocol: '83' }))));
    }
    if (rest.startsWith('route show table all proto 83')) {
      return ok(this.routes.filter((r) => r.family === family).map((r) => `local default dev lo table ${r.table} scope host\n`).join(''));
    }
    if (rest === '-o addr show dev lo') return ok(this.hasSix ? '1: lo    inet6 ::6/128 scope global \n' : '');
    let m = /^rule (add|del) fwmark 0x([0-9a-f]+) lookup (\d+) proto 83$/.exec(rest);
    if (m) {
      const r = { family, fwmark: Number.parseInt(m[2]!, 16), table: Number(m[3]) };
      if (m[1] === 'add') this.rules.push(r);
      else this.rules = this.rules.filter((x) => !(x.family === r.family && x.fwmark === r.fwmark && x.table === r.table));
      return ok();
    }
    m = /^route (replace|del) local \S+ dev lo table (\d+) proto 83$/.exec(rest);
    if (m) {
      const r = { family, table: Number(m[2]) };
      this.routes = this.routes.filter((x) => !(x.family === r.family && x.table === r.table));
      if (m[1] === 'replace') this.routes.push(r);
      return ok();
    }
    if (rest === 'addr add ::6/128 dev lo') return (this.hasSix = true), ok();
    if (rest === 'addr del ::6/128 dev lo') return (this.hasSix = false), ok();
    throw new Error(`unexpected ip ${args.join(' ')}`);
  }

  restores(): { cmd: string; input: string }[] {
    return this.calls.filter((c) => c.cmd.endsWith('-restore')).map((c) => ({ cmd: c.cmd, input: c.input ?? '' }));
  }
}

class FakeNft implements NftRunner {
  table = false;
  scripts: string[] = [];
  constructor(readonly isAvailable = true) {}
  available(): boolean {
    return this.isAvailable;
  }
  run(script: string, options?: { json?: boolean }): NftResult {
    if (options?.json) return { ok: true, output: JSON.stringify({ nftables: [] }), error: '' };
    if (script === 'list table inet sidelane') return this.table ? { ok: true, output: 'table inet sidelane {\n}\n', error: '' } : { ok: false, output: '', error: 'No such file' };
    this.scripts.push(script);
    if (script.startsWith('delete table inet sidelane')) this.table = false;
    else if (script.includes('table inet sidelane {')) this.table = true;
    return { ok: true, output: '', error: '' };
  }
}

const files = (ipv6: boolean): NamespaceFiles => ({
  read: (p) =>
    ({
      '/proc/sys/net/ipv4/ip_local_port_range': '32768\t60999\n',
      '/proc/sys/net/ipv4/ip_local_reserved_ports': '\n',
      '/proc/net/if_inet6': ipv6 ? '20010db8000000000000000000000010 02 40 00 80 eth0\n' : '00000000000000000000000000000001 01 80 10 80 lo\n',
    })[p],
  netnsId: () => 'net:[4026532999]',
});

function deps(ns: FakeNamespace, nft: FakeNft, ipv6 = false, state = new MemoryStateStore()): CaptureDeps & { state: MemoryStateStore } {
  return { runner: ns, nft, files: files(ipv6), state, executable: () => true };
}

const LEGACY_RULES = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n';

test('auto backend: an existing install, then legacy rules, then iptables-nft rules, else nft, else iptables-nft', async () => {
  const ns = new FakeNamespace();
  assert.deepEqual(await detectBackend('auto', deps(ns, new FakeNft())), { backend: 'nft', reason: 'auto: no iptables rules in the namespace, native nftables' });
  ns.saves.set('iptables-nft-save', LEGACY_RULES);
  assert.equal((await detectBackend('auto', deps(ns, new FakeNft()))).backend, 'iptables-nft');
  ns.saves.set('ip6tables-legacy-save', LEGACY_RULES);
  assert.equal((await detectBackend('auto', deps(ns, new FakeNft()))).backend, 'iptables-legacy', 'legacy rules win, like Istio');
  const installed = new FakeNft();
  installed.table = true;
  assert.equal((await detectBackend('auto', deps(ns, installed))).reason, 'auto: sidelane is installed in table inet sidelane');
  assert.equal((await detectBackend('iptables', deps(ns, new FakeNft()))).backend, 'iptables-legacy');
  assert.equal((await detectBackend('auto', deps(new FakeNamespace(), new FakeNft(false)))).backend, 'iptables-nft', 'no libnftables');
  await assert.rejects(detectBackend('nft', deps(new FakeNamespace(), new FakeNft(false))), (e: unknown) => e instanceof SidelaneError && e.code === 'SIDELANE_ERR_CAPTURE_BACKEND' && /libnftables/.test(e.message));
});

test('init with iptables applies one payload per family, then the policy routes are in place and the state is written', async () => {
  const ns = new FakeNamespace();
  const d = deps(ns, new FakeNft(), true);
  const result = await initCapture(captureOptionsFromFlags({ backend: 'iptables-nft' }), d, { dryRun: false });
  assert.deepEqual(result.env.families, [4, 6], 'IPv6 on: a global address in /proc/net/if_inet6');
  assert.deepEqual(ns.restores().map((r) => r.cmd), ['iptables-nft-restore', 'ip6tables-nft-restore']);
  assert.match(ns.restores()[0]!.input, /^\*raw\n:SIDELANE_RAW_PREROUTING - \[0:0\]/);
  assert.deepEqual(ns.rules, [{ family: 4, fwmark: 0x539, table: 133 }, { family: 6, fwmark: 0x539, table: 133 }]);
  assert.deepEqual(ns.routes, [{ family: 4, table: 133 }, { family: 6, table: 133 }]);
  assert.equal(ns.hasSix, true);
  const state = d.state.load('net:[4026532999]')!;
  assert.equal(state.backend, 'iptables-nft');
  assert.equal(state.addedPassthroughAddress, true);

  // A re-run does not add the rules twice and keeps "sidelane added ::6" in the state.
  await initCapture(captureOptionsFromFlags({ backend: 'iptables-nft' }), d, { dryRun: false });
  assert.equal(ns.rules.length, 2);
  assert.equal(d.state.load('net:[4026532999]')!.addedPassthroughAddress, true);
});

test('when the rules fail, the policy routes added by this init are removed again and the error says so', async () => {
  const ns = new FakeNamespace();
  ns.failRestore = true;
  const d = deps(ns, new FakeNft(), true);
  await assert.rejects(initCapture(captureOptionsFromFlags({ backend: 'iptables-legacy' }), d, { dryRun: false }), (e: unknown) => e instanceof SidelaneError && /iptables-restore: line 3 failed/.test(e.message));
  assert.deepEqual(ns.rules, []);
  assert.deepEqual(ns.routes, []);
  assert.equal(ns.hasSix, false);
  assert.equal(d.state.states.size, 0, 'no state for a failed init');
});

test('--dry-run reads but never writes', async () => {
  const ns = new FakeNamespace();
  const nft = new FakeNft();
  const r = await initCapture(captureOptionsFromFlags({}), deps(ns, nft), { dryRun: true });
  assert.match(r.description, /^# backend: nft \(auto: no iptables rules in the namespace, native nftables\)\n# IPv6: off \(auto: no global IPv6 address\)/);
  assert.ok(ns.calls.every((c) => c.cmd.endsWith('-save') || (c.cmd === 'ip' && /show/.test(c.args.join(' ')))), JSON.stringify(ns.calls));
  assert.deepEqual(nft.scripts, []);
});

test('switching backend removes the other install; cleanup removes everything and only the ::6 that init added', async () => {
  const ns = new FakeNamespace();
  const nft = new FakeNft();
  const d = deps(ns, nft, true);
  ns.hasSix = true; // someone else put ::6 on lo before sidelane
  await initCapture(captureOptionsFromFlags({}), d, { dryRun: false });
  assert.equal(nft.table, true);
  assert.equal(d.state.load('net:[4026532999]')!.addedPassthroughAddress, false);

  // iptables-nft now shows sidelane's chains (as if installed there earlier): an nft init removes them.
  ns.saves.set('iptables-nft-save', '*mangle\n:PREROUTING ACCEPT [0:0]\n:SIDELANE_PREROUTING - [0:0]\n-A PREROUTING -j SIDELANE_PREROUTING\nCOMMIT\n');
  await initCapture(captureOptionsFromFlags({}), d, { dryRun: false });
  assert.match(ns.restores().at(-1)!.input, /-D PREROUTING -j SIDELANE_PREROUTING\n-F SIDELANE_PREROUTING\n-X SIDELANE_PREROUTING/);

  const result = await cleanupCapture(d, { dryRun: false });
  assert.equal(nft.table, false);
  assert.deepEqual(ns.rules, []);
  assert.deepEqual(ns.routes, []);
  assert.equal(ns.hasSix, true, "a ::6 that sidelane did not add stays");
  assert.ok(result.removed.some((l) => /delete table inet sidelane/.test(l)));
  assert.equal(d.state.states.size, 0);
});

test('a state file left by an earlier namespace with the same inode is ignored', async () => {
  const ns = new FakeNamespace();
  ns.hasSix = true;
  const d = deps(ns, new FakeNft(), true);
  d.state.save({
    version: 1,
    netns: 'net:[4026532999]',
    backend: 'nft',
    mode: 'tproxy',
    families: [4, 6],
    mark: 0x539,
    routeTable: 133,
    addedPassthroughAddress: true,
    createdNftObjects: [],
    instantiatedLegacyTables: [],
  });
  const result = await cleanupCapture(d, { dryRun: false });
  assert.equal(ns.hasSix, true, 'nothing of sidelane was installed, so the stale record cannot remove ::6');
  assert.deepEqual(result.removed, []);
});
