/**
 * Chooses the rule backend for `--backend auto|nft|iptables|iptables-legacy|iptables-nft`. The auto rule follows
 * what the namespace already uses, so sidelane's rules land where the other rules are (the legacy-vs-nft trap of
 * istio/istio#15519 and #49279): an existing sidelane install first, then iptables-legacy rules, then iptables-nft
 * rules, else native nftables (libnftables in-process), else iptables-nft.
 */
import { SidelaneError } from '../errors';
import type { CommandRunner } from '../netns/command';
import { footprintOf, footprintSize, hasForeignRules, iptablesBinary, onPath, readIptables, type IptablesFlavour, type IptablesView } from './iptables-backend';
import { sidelaneTableExists, type NftRunner } from './nft-backend';
import type { BackendChoice } from './options';

export type Backend = 'nft' | 'iptables-legacy' | 'iptables-nft';
export const BACKENDS: readonly Backend[] = ['nft', 'iptables-legacy', 'iptables-nft'];

export interface BackendDeps {
  readonly runner: CommandRunner;
  readonly nft: NftRunner;
  /** Whether a program exists (injected for tests). */
  readonly executable?: (name: string) => boolean;
}

export interface DetectedBackend {
  readonly backend: Backend;
  readonly reason: string;
}

export function flavourOf(backend: Backend): IptablesFlavour | undefined {
  return backend === 'iptables-legacy' ? 'legacy' : backend === 'iptables-nft' ? 'nft' : undefined;
}

/** What the namespace holds, per iptables flavour (both families). */
export interface IptablesSurvey {
  readonly views: Record<IptablesFlavour, IptablesView[]>;
}

export async function surveyIptables(runner: CommandRunner): Promise<IptablesSurvey> {
  const views: Record<IptablesFlavour, IptablesView[]> = { legacy: [], nft: [] };
  for (const flavour of ['legacy', 'nft'] as const) {
    for (const family of [4, 6] as const) views[flavour].push(await readIptables(runner, flavour, family));
  }
  return { views };
}

const ours = (views: IptablesView[]): boolean => views.some((v) => footprintSize(footprintOf(v.saved)) > 0);
const foreign = (views: IptablesView[]): boolean => views.some((v) => hasForeignRules(v.saved));

function installable(backend: Backend, deps: BackendDeps): string | undefined {
  const exists = deps.executable ?? onPath;
  if (backend === 'nft') return deps.nft.available() ? undefined : 'libnftables.so.1 cannot be loaded (install libnftables1)';
  const flavour = flavourOf(backend)!;
  const bin = iptablesBinary(flavour, 4, 'restore');
  return exists(bin) ? undefined : `${bin} is not installed`;
}

export async function detectBackend(choice: BackendChoice, deps: BackendDeps): Promise<DetectedBackend> {
  const pick = (backend: Backend, reason: string): DetectedBackend => {
    const missing = installable(backend, deps);
    if (missing) throw new SidelaneError('SIDELANE_ERR_CAPTURE_BACKEND', `backend ${backend} (${reason}) is unusable: ${missing}`, { backend });
    return { backend, reason };
  };
  if (choice === 'nft' || choice === 'iptables-legacy' || choice === 'iptables-nft') return pick(choice, `--backend ${choice}`);
  const survey = await surveyIptables(deps.runner);
  const exists = deps.executable ?? onPath;
  if (choice === 'iptables') {
    if (ours(survey.views.legacy) || foreign(survey.views.legacy)) return pick('iptables-legacy', '--backend iptables: the namespace has iptables-legacy rules');
    if (exists(iptablesBinary('nft', 4, 'restore'))) return pick('iptables-nft', '--backend iptables: no iptables-legacy rules, so the nf_tables flavour');
    return pick('iptables-legacy', '--backend iptables: iptables-nft is not installed');
  }
  // auto
  if (sidelaneTableExists(deps.nft)) return pick('nft', 'auto: sidelane is installed in table inet sidelane');
  if (ours(survey.views.legacy)) return pick('iptables-legacy', 'auto: sidelane is installed with iptables-legacy');
  if (ours(survey.views.nft)) return pick('iptables-nft', 'auto: sidelane is installed with iptables-nft');
  if (foreign(survey.views.legacy)) return pick('iptables-legacy', 'auto: the namespace has iptables-legacy rules');
  if (foreign(survey.views.nft)) return pick('iptables-nft', 'auto: the namespace has iptables-nft rules');
  if (deps.nft.available()) return pick('nft', 'auto: no iptables rules in the namespace, native nftables');
  if (exists(iptablesBinary('nft', 4, 'restore'))) return pick('iptables-nft', 'auto: no iptables rules and no libnftables, iptables-nft');
  return pick('iptables-legacy', 'auto: only iptables-legacy is installed');
}
