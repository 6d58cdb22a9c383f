/**
 * `sidelane init` and `sidelane cleanup` as operations on the current network namespace: choose the backend, build
 * the plan, apply it atomically with the policy routes (rolling the routes back if the rules fail), converge on
 * re-runs, remove every trace on cleanup, and record in the state file what discovery alone cannot tell.
 */
import { SidelaneError } from '../errors';
import type { CommandRunner } from '../netns/command';
import { detectBackend, flavourOf, surveyIptables, type Backend, type BackendDeps, type DetectedBackend } from './backend-detection';
import { buildPlan, commandLine, describeNftPlan, type CapturePlan } from './build';
import { resolveEnvironment, type NamespaceFiles, type ResolvedEnvironment } from './environment';
import { applyIptables, footprintOf, footprintSize, planIptables, type IptablesChange } from './iptables-backend';
import { applyNft, nftInventory, objectKey, removeCreatedObjects, removeNftTable, sidelaneTableExists, type NftObject } from './nft-backend';
import { renderNftDelete } from './nft-render';
import type { CaptureOptions } from './options';
import {
  applyPolicyRoutes,
  hasPassthroughAddress,
  installedRoutes,
  installedRules,
  policyRouteCommands,
  removePolicyRoutes,
  rollbackPolicyRoutes,
} from './policy-routes';
import { CHAIN_PREFIX } from './ruleset';
import { isPlainNftName, type CaptureState, type StateStore } from './state';

export interface CaptureDeps extends BackendDeps {
  readonly files: NamespaceFiles;
  readonly state: StateStore;
}

export interface InitResult {
  readonly backend: DetectedBackend;
  readonly env: ResolvedEnvironment;
  readonly plan: CapturePlan;
  /** What was (or, with --dry-run, would be) run, as shell-like text. */
  readonly description: string;
}

const LEGACY_TABLE_LISTS = { 4: '/proc/net/ip_tables_names', 6: '/proc/net/ip6_tables_names' } as const;

function legacyTables(files: NamespaceFiles): Set<string> {
  const out = new Set<string>();
  for (const family of [4, 6] as const) {
    for (const t of (files.read(LEGACY_TABLE_LISTS[family]) ?? '').split('\n').map((l) => l.trim()).filter(Boolean)) out.add(`ipv${family} ${t}`);
  }
  return out;
}

/** True when anything of sidelane's is installed (a state file without any of it is stale: the inode was reused). */
export async function captureInstalled(deps: BackendDeps): Promise<boolean> {
  if (sidelaneTableExists(deps.nft)) return true;
  const survey = await surveyIptables(deps.runner);
  if ([...survey.views.legacy, ...survey.views.nft].some((v) => footprintSize(footprintOf(v.saved)) > 0)) return true;
  for (const family of [4, 6] as const) {
    if ((await installedRules(deps.runner, family)).length || (await installedRoutes(deps.runner, family)).length) return true;
  }
  return false;
}

function describeChanges(changes: readonly IptablesChange[]): string[] {
  return changes.map((c) => `${c.command} ${c.flavour === 'legacy' ? '--noflush --wait=30' : '--noflush'} <<'EOF'\n${c.payload.trimEnd()}\nEOF`);
}

async function otherIptables(runner: CommandRunner, keep: Backend): Promise<IptablesChange[]> {
  const out: IptablesChange[] = [];
  for (const flavour of ['legacy', 'nft'] as const) {
    if (flavourOf(keep) === flavour) continue;
    out.push(...(await planIptables(runner, flavour, undefined)));
  }
  return out;
}

export async function initCapture(o: CaptureOptions, deps: CaptureDeps, options: { dryRun: boolean }): Promise<InitResult> {
  const env = resolveEnvironment(o, deps.files);
  const backend = await detectBackend(o.backend, deps);
  const plan = buildPlan(o, env);
  const flavour = flavourOf(backend.backend);
  const changes = flavour ? await planIptables(deps.runner, flavour, plan.ruleset) : [];
  const elsewhere = await otherIptables(deps.runner, backend.backend);
  const removeNft = backend.backend !== 'nft' && sidelaneTableExists(deps.nft);

  const header = [
    `# backend: ${backend.backend} (${backend.reason})`,
    `# IPv6: ${env.families.includes(6) ? 'on' : 'off'} (${env.ipv6Reason})`,
    `# ephemeral source ports: ${env.ephemeralPorts.toString() || 'none'} (ip_local_port_range minus ip_local_reserved_ports)`,
  ];
  const body =
    backend.backend === 'nft'
      ? [describeNftPlan(plan).trimEnd()]
      : [...describeChanges(changes), ...policyRouteCommands(plan.routes).map(commandLine)];
  const cleanupText = [...describeChanges(elsewhere), ...(removeNft ? [`nft -f - <<'EOF'\n${renderNftDelete().trimEnd()}\nEOF`] : [])];
  const description = [...header, ...body, ...(cleanupText.length ? ['# remove sidelane from the other backends:', ...cleanupText] : [])].join('\n') + '\n';
  if (options.dryRun) return { backend, env, plan, description };

  const netns = deps.files.netnsId();
  const installedBefore = await captureInstalled(deps);
  const previous = installedBefore ? deps.state.load(netns) : undefined;
  const legacyBefore = legacyTables(deps.files);
  const inventoryBefore = new Set(nftInventory(deps.nft).objects.map(objectKey));

  const routes = await applyPolicyRoutes(deps.runner, plan.routes);
  try {
    if (backend.backend === 'nft') applyNft(deps.nft, plan.ruleset);
    else await applyIptables(deps.runner, changes);
  } catch (err) {
    await rollbackPolicyRoutes(deps.runner, routes);
    if (err instanceof SidelaneError) throw err;
    throw new SidelaneError('SIDELANE_ERR_CAPTURE_APPLY', `applying the ${backend.backend} rules failed: ${err instanceof Error ? err.message : String(err)}`, { backend: backend.backend }, { cause: err });
  }
  // Converge when the backend changed since the last init: the other backends' sidelane rules go.
  await applyIptables(deps.runner, elsewhere);
  if (removeNft) removeNftTable(deps.nft);

  const created: NftObject[] = [...(previous?.createdNftObjects ?? [])];
  if (backend.backend === 'iptables-nft') {
    for (const obj of nftInventory(deps.nft).objects) {
      // sidelane's own chains are found by name; only the tables and base chains iptables-nft made need recording.
      if (obj.chain?.startsWith(CHAIN_PREFIX)) continue;
      // Only plain names are recorded: cleanup turns them into nft commands (see stateProblem).
      if (!isPlainNftName(obj.table) || (obj.chain !== undefined && !isPlainNftName(obj.chain))) continue;
      if (!inventoryBefore.has(objectKey(obj)) && !created.some((c) => objectKey(c) === objectKey(obj))) created.push(obj);
    }
  }
  const instantiated = new Set(previous?.instantiatedLegacyTables ?? []);
  for (const t of legacyTables(deps.files)) if (!legacyBefore.has(t)) instantiated.add(t);
  const state: CaptureState = {
    version: 1,
    netns,
    backend: backend.backend,
    mode: o.mode,
    families: env.families,
    mark: o.mark,
    routeTable: o.routeTable,
    addedPassthroughAddress: (previous?.addedPassthroughAddress ?? false) || routes.addedAddress,
    createdNftObjects: created,
    instantiatedLegacyTables: [...instantiated].sort(),
  };
  deps.state.save(state);
  return { backend, env, plan, description };
}

export interface CleanupResult {
  /** One line per thing removed (or that would be, with --dry-run). */
  readonly removed: readonly string[];
  /** Facts the user should know (legacy tables the kernel keeps). */
  readonly notes: readonly string[];
}

export async function cleanupCapture(deps: CaptureDeps, options: { dryRun: boolean }): Promise<CleanupResult> {
  const netns = deps.files.netnsId();
  const installed = await captureInstalled(deps);
  // A state file with nothing installed belongs to an earlier namespace with the same inode: ignore it.
  const state = installed ? deps.state.load(netns) : undefined;
  const removed: string[] = [];
  const notes: string[] = [];
  const changes: IptablesChange[] = [];
  for (const flavour of ['legacy', 'nft'] as const) changes.push(...(await planIptables(deps.runner, flavour, undefined)));
  const nftTable = sidelaneTableExists(deps.nft);
  const rules = [...(await installedRules(deps.runner, 4)), ...(await installedRules(deps.runner, 6))];
  const routes = [...(await installedRoutes(deps.runner, 4)), ...(await installedRoutes(deps.runner, 6))];
  const address = (state?.addedPassthroughAddress ?? false) && (await hasPassthroughAddress(deps.runner));

  if (nftTable) removed.push(`nft: ${renderNftDelete().trim()}`);
  for (const c of changes) removed.push(`${c.command}: ${c.payload.split('\n').filter((l) => /^-[DX] /.test(l)).join('; ')}`);
  for (const r of rules) removed.push(`ip -${r.family} rule del fwmark 0x${r.fwmark.toString(16)} lookup ${r.table}`);
  for (const r of routes) removed.push(`ip -${r.family} route del local default dev lo table ${r.table}`);
  if (address) removed.push('ip -6 addr del ::6/128 dev lo');
  if (state?.createdNftObjects.length) removed.push(`nft: empty iptables-nft objects init created: ${state.createdNftObjects.map(objectKey).join(', ')}`);
  if (state?.instantiatedLegacyTables.length) {
    notes.push(
      `legacy iptables tables ${state.instantiatedLegacyTables.join(', ')} were instantiated by init; the kernel keeps them (empty, policy ACCEPT) until the namespace is deleted`,
    );
  }
  if (options.dryRun) return { removed, notes };

  if (nftTable) removeNftTable(deps.nft);
  await applyIptables(deps.runner, changes);
  if (state?.createdNftObjects.length) removeCreatedObjects(deps.nft, state.createdNftObjects);
  await removePolicyRoutes(deps.runner, address);
  deps.state.remove(netns);
  return { removed, notes };
}

