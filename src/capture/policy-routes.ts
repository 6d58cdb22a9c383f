/**
 * The policy routes TPROXY needs (DESIGN 3.1): `ip rule` fwmark → table and a `local` default route over lo in that
 * table, per family, tagged `proto 83` so sidelane finds exactly its own; plus `::6` on lo for IPv6 (the proxy's
 * passthrough source). Planning is pure; applying and removing go through the injected CommandRunner and are
 * idempotent (existing entries are kept, never duplicated).
 */
import type { CommandRunner } from '../netns/command';
import type { Family } from './cidr';
import { ROUTE_PROTOCOL, type CaptureOptions } from './options';
import { hex } from './validation';

export interface PolicyRule {
  readonly family: Family;
  readonly fwmark: number;
  readonly table: number;
}

export interface LocalRoute {
  readonly family: Family;
  readonly table: number;
}

export interface PolicyRoutes {
  readonly rules: readonly PolicyRule[];
  readonly routes: readonly LocalRoute[];
  /** `::6/128` on lo, the source of the proxy's IPv6 legs to the app when the client's is not preserved. */
  readonly passthroughAddress: boolean;
}

export function planPolicyRoutes(o: CaptureOptions, families: readonly Family[]): PolicyRoutes {
  const tproxy = o.mode === 'tproxy';
  return {
    rules: tproxy ? families.map((family) => ({ family, fwmark: o.mark, table: o.routeTable })) : [],
    routes: tproxy ? families.map((family) => ({ family, table: o.routeTable })) : [],
    passthroughAddress: families.includes(6),
  };
}

const ANY: Readonly<Record<Family, string>> = { 4: '0.0.0.0/0', 6: '::/0' };

export function ruleArgs(r: PolicyRule, verb: 'add' | 'del'): string[] {
  return [`-${r.family}`, 'rule', verb, 'fwmark', hex(r.fwmark), 'lookup', String(r.table), 'proto', String(ROUTE_PROTOCOL)];
}

export function routeArgs(r: LocalRoute, verb: 'replace' | 'del'): string[] {
  return [`-${r.family}`, 'route', verb, 'local', ANY[r.family], 'dev', 'lo', 'table', String(r.table), 'proto', String(ROUTE_PROTOCOL)];
}

export const PASSTHROUGH_ADDRESS_ARGS = (verb: 'add' | 'del'): string[] => ['-6', 'addr', verb, '::6/128', 'dev', 'lo'];

/** The `ip` commands a clean namespace gets (dry-run output and golden files). */
export function policyRouteCommands(p: PolicyRoutes): string[][] {
  return [
    ...p.routes.map((r) => ['ip', ...routeArgs(r, 'replace')]),
    ...p.rules.map((r) => ['ip', ...ruleArgs(r, 'add')]),
    ...(p.passthroughAddress ? [['ip', ...PASSTHROUGH_ADDRESS_ARGS('add')]] : []),
  ];
}

interface IpRuleJson {
  readonly priority?: number;
  readonly fwmark?: string;
  readonly fwmask?: string;
  readonly table?: string;
  readonly protocol?: string;
}

/** sidelane's rules currently installed (tagged with its protocol), per family. */
export async function installedRules(runner: CommandRunner, family: Family): Promise<PolicyRule[]> {
  const r = await runner.run('ip', [`-${family}`, '-j', 'rule', 'show'], { allowFailure: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  const rows = JSON.parse(r.stdout) as IpRuleJson[];
  return rows
    .filter((row) => row.protocol === String(ROUTE_PROTOCOL) && row.fwmark !== undefined && row.table !== undefined)
    .map((row) => ({ family, fwmark: Number.parseInt(row.fwmark!, 16), table: Number(row.table) }));
}

/** Tables holding a `local` default route tagged with sidelane's protocol, per family. */
export async function installedRoutes(runner: CommandRunner, family: Family): Promise<LocalRoute[]> {
  const r = await runner.run('ip', [`-${family}`, 'route', 'show', 'table', 'all', 'proto', String(ROUTE_PROTOCOL)], { allowFailure: true });
  if (r.code !== 0) return [];
  const out: LocalRoute[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^local default dev lo table (\d+) /.exec(line.trim() + ' ');
    if (m) out.push({ family, table: Number(m[1]) });
  }
  return out;
}

export async function hasPassthroughAddress(runner: CommandRunner): Promise<boolean> {
  const r = await runner.run('ip', ['-6', '-o', 'addr', 'show', 'dev', 'lo'], { allowFailure: true });
  return r.code === 0 && /\sinet6 ::6\/128\s/.test(r.stdout);
}

export interface AppliedRoutes {
  /** What this call added (rollback removes exactly these). */
  addedRules: PolicyRule[];
  addedRoutes: LocalRoute[];
  addedAddress: boolean;
}

const sameRule = (a: PolicyRule, b: PolicyRule): boolean => a.family === b.family && a.fwmark === b.fwmark && a.table === b.table;

/**
 * Makes the namespace hold exactly the planned sidelane routes: adds what is missing, removes sidelane-tagged
 * rules and routes that a previous init with other flags left. Returns what it added, for rollback.
 */
export async function applyPolicyRoutes(runner: CommandRunner, plan: PolicyRoutes): Promise<AppliedRoutes> {
  const applied: AppliedRoutes = { addedRules: [], addedRoutes: [], addedAddress: false };
  for (const family of [4, 6] as const) {
    const haveRoutes = await installedRoutes(runner, family);
    for (const route of plan.routes.filter((r) => r.family === family)) {
      if (!haveRoutes.some((h) => h.table === route.table)) applied.addedRoutes.push(route);
      await runner.run('ip', routeArgs(route, 'replace'));
    }
    const haveRules = await installedRules(runner, family);
    for (const rule of plan.rules.filter((r) => r.family === family)) {
      if (!haveRules.some((h) => sameRule(h, rule))) {
        await runner.run('ip', ruleArgs(rule, 'add'));
        applied.addedRules.push(rule);
      }
    }
    // A previous init with another --mark or --route-table: its rules and routes go.
    for (const stale of haveRules.filter((h) => !plan.rules.some((r) => sameRule(h, r)))) await runner.run('ip', ruleArgs(stale, 'del'), { allowFailure: true });
    for (const stale of haveRoutes.filter((h) => !plan.routes.some((r) => r.family === h.family && r.table === h.table))) {
      await runner.run('ip', routeArgs(stale, 'del'), { allowFailure: true });
    }
  }
  if (plan.passthroughAddress && !(await hasPassthroughAddress(runner))) {
    await runner.run('ip', PASSTHROUGH_ADDRESS_ARGS('add'));
    applied.addedAddress = true;
  }
  return applied;
}

/** Removes every sidelane-tagged rule and route (both families); the ::6 address only when sidelane added it. */
export async function removePolicyRoutes(runner: CommandRunner, removeAddress: boolean): Promise<string[][]> {
  const done: string[][] = [];
  for (const family of [4, 6] as const) {
    for (const rule of await installedRules(runner, family)) {
      await runner.run('ip', ruleArgs(rule, 'del'), { allowFailure: true });
      done.push(['ip', ...ruleArgs(rule, 'del')]);
    }
    for (const route of await installedRoutes(runner, family)) {
      await runner.run('ip', routeArgs(route, 'del'), { allowFailure: true });
      done.push(['ip', ...routeArgs(route, 'del')]);
    }
  }
  if (removeAddress && (await hasPassthroughAddress(runner))) {
    await runner.run('ip', PASSTHROUGH_ADDRESS_ARGS('del'), { allowFailure: true });
    done.push(['ip', ...PASSTHROUGH_ADDRESS_ARGS('del')]);
  }
  return done;
}

/** Undoes one applyPolicyRoutes call (init failed after it). */
export async function rollbackPolicyRoutes(runner: CommandRunner, applied: AppliedRoutes): Promise<void> {
  for (const rule of applied.addedRules) await runner.run('ip', ruleArgs(rule, 'del'), { allowFailure: true });
  for (const route of applied.addedRoutes) await runner.run('ip', routeArgs(route, 'del'), { allowFailure: true });
  if (applied.addedAddress) await runner.run('ip', PASSTHROUGH_ADDRESS_ARGS('del'), { allowFailure: true });
}
