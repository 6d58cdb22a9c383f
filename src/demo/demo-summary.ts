/**
 * The machine-readable summary of a demo run (`sidelane demo --json FILE|-`): the mesh that was built, every
 * request's outcome, the split observed against the one configured, conntrack in every pod, key counters and
 * timings, and what teardown left behind. Its shape is documented in docs/demo.md.
 */
import type { RequestOutcome } from './traffic-client';
import type { Shares } from './traffic-split';

export interface SplitSummary {
  readonly requests: number;
  /** Answers per reviews version. */
  readonly observed: Record<string, number>;
  /** Shares in percent per subset, from the generated routes. */
  readonly expected: Shares;
  /** Half-width of the accepted band per version (5σ of the binomial), in requests. */
  readonly tolerance: Record<string, number>;
  readonly withinTolerance: boolean;
  /** The same split as counted by productpage's sidecar: requests per outbound reviews subset cluster. */
  readonly sidecarCounted: Record<string, number>;
}

export interface DemoSummary {
  readonly version: 1;
  /** Every request succeeded, the splits are as configured and conntrack stayed 0 in every pod. */
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly mesh: {
    readonly id: string;
    readonly dir: string;
    readonly pods: readonly {
      readonly name: string;
      readonly netns: string;
      readonly netnsInode: number;
      readonly ipv4: string;
      readonly deployment: string | null;
      readonly app: string | null;
      readonly version: string | null;
      readonly config: string;
    }[];
    readonly services: readonly { readonly host: string; readonly vip: string; readonly endpoints: readonly string[] }[];
  };
  readonly requests: readonly RequestOutcome[];
  /** One request from a plain curl (no hook) in the client pod: captured by the TPROXY fallback. */
  readonly fallback: RequestOutcome & { readonly client: 'curl' };
  readonly split: SplitSummary;
  readonly jason: SplitSummary;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly conntrack: Record<string, number>;
  readonly conntrackLoaded: boolean;
  readonly metrics: {
    /** Where the numbers came from. */
    readonly source: 'prometheus' | 'admin-clusters';
    readonly counters: readonly { readonly pod: string; readonly metric: string; readonly labels: Record<string, string>; readonly value: number }[];
  };
  readonly timings: {
    readonly setupMs: number;
    readonly trafficMs: number;
    readonly walkthroughMs: number;
    readonly teardownMs: number;
    readonly totalMs: number;
    /** Per pod: `sidelane init`, then until the sidecar listens, then until the app listens. */
    readonly startup: Record<string, { readonly initMs: number; readonly sidecarMs: number; readonly appMs: number }>;
  };
  readonly kept: boolean;
  /** After teardown (absent when kept): what was still there. Empty lists mean nothing was left behind. */
  readonly leftBehind?: {
    readonly namespaces: readonly string[];
    readonly hostsFiles: readonly string[];
    readonly processes: readonly number[];
    readonly captureStateFiles: readonly string[];
    readonly runDir: boolean;
  };
}
