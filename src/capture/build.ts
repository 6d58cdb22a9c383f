/**
 * Entry point from options to the whole plan of what `sidelane init` installs: the ruleset of the chosen mode, the
 * policy routes, and the text each backend applies. Pure: golden files and `--dry-run` print exactly this.
 */
import { renderIptablesPayload } from './iptables-render';
import { renderNftScript } from './nft-render';
import type { CaptureEnvironment, CaptureOptions } from './options';
import { planPolicyRoutes, policyRouteCommands, type PolicyRoutes } from './policy-routes';
import { buildRedirectRuleset } from './redirect-ruleset';
import type { Ruleset } from './ruleset';
import { buildTproxyRuleset } from './tproxy-ruleset';
import type { Family } from './cidr';

export function buildRuleset(o: CaptureOptions, env: CaptureEnvironment): Ruleset {
  return o.mode === 'redirect' ? buildRedirectRuleset(o, env) : buildTproxyRuleset(o, env);
}

export interface CapturePlan {
  readonly ruleset: Ruleset;
  readonly routes: PolicyRoutes;
}

export function buildPlan(o: CaptureOptions, env: CaptureEnvironment): CapturePlan {
  return { ruleset: buildRuleset(o, env), routes: planPolicyRoutes(o, env.families) };
}

function shellWord(w: string): string {
  return /^[A-Za-z0-9_./:=+@-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(shellWord).join(' ');
}

/** One family's iptables part (payload and routes), as the golden files and --dry-run show it. */
export function describeIptablesPlan(plan: CapturePlan, family: Family, restore = family === 4 ? 'iptables-restore' : 'ip6tables-restore'): string {
  const routes = policyRouteCommands({
    rules: plan.routes.rules.filter((r) => r.family === family),
    routes: plan.routes.routes.filter((r) => r.family === family),
    passthroughAddress: family === 6 && plan.routes.passthroughAddress,
  });
  return [`${restore} --noflush <<'EOF'`, renderIptablesPayload(plan.ruleset, family).trimEnd(), 'EOF', ...routes.map(commandLine)].join('\n') + '\n';
}

/** The nft script (one transaction, in-process through libnftables) and every family's routes. */
export function describeNftPlan(plan: CapturePlan): string {
  return ['nft -f - <<\'EOF\'', renderNftScript(plan.ruleset).trimEnd(), 'EOF', ...policyRouteCommands(plan.routes).map(commandLine)].join('\n') + '\n';
}
