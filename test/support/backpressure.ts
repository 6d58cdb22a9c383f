/**
 * Backpressure cases over the integrity mesh: one large transfer whose receiver reads slowly at first, with the
 * sidecar's resident memory sampled throughout and held against its idle baseline plus a fixed allowance, and the
 * bytes the sender got ahead of the reader ("in flight": socket buffers, pipes and anything the proxy holds) measured
 * at the end of the slow phase. Shared by the backpressure test and scripts/soak-integrity.ts.
 */
import type { Pod } from '../../src/netns/lab';
import type { CapturePath, DataPath, IntegrityMesh, PathOutcome, Proto } from './integrity-mesh';
import type { HttpMode, SlowPhase, TcpMode } from './integrity-stream';
import { MiB, RssSampler, type RssSeries } from './rss-sampler';

/** The slow reader of the suite: 2 MiB/s for 4 s (long enough for an unthrottled sender to push everything), then full speed. */
export const SLOW_RATE = 2 * MiB;
export const SLOW_MS = 4000;
export const SAMPLE_MS = 200;
/**
 * The documented ceiling is the proxy's baseline (supervisor + workers at rest after start) plus this. What a correct
 * proxy legitimately adds while bytes flow is code and garbage, not buffering, and it does not grow with the transfer:
 * the first HTTP requests through a worker load and compile the HTTP path (~+10 MiB per worker); every socket read is
 * a fresh Buffer outside the V8 heap, which V8 collects only once about 64 MiB of such external memory has
 * accumulated since its last collection (glibc keeps the freed chunks for reuse); and under a high allocation rate
 * the young generation grows (two semi-spaces of up to 16 MiB). So one busy worker can rise by ~100 MiB in theory;
 * measured: +74 MiB at most (docs/reliability/integrity.md). Unbounded buffering behind a slow reader adds most of
 * the transfer (measured: +261 MiB with the JavaScript relay's pause removed, for 256 MiB).
 */
export const RSS_ALLOWANCE = 128 * MiB;

export interface BackpressureCase {
  readonly capture: CapturePath;
  readonly proto: Proto;
  readonly mode: TcpMode | HttpMode;
}

/** TCP uploads through the hook and inbound; HTTP request bodies and response bodies through the connection manager. */
export const BACKPRESSURE_CASES: readonly BackpressureCase[] = [
  { capture: 'hook', proto: 'tcp', mode: 'up' },
  { capture: 'inbound', proto: 'tcp', mode: 'up' },
  { capture: 'hook', proto: 'http', mode: 'upload' },
  { capture: 'hook', proto: 'http', mode: 'download' },
  { capture: 'inbound', proto: 'http', mode: 'upload' },
];

/** The cases worth running on a data path (HTTP does not depend on it: the connection manager is the same). */
export function casesFor(dataPath: DataPath, cases: readonly BackpressureCase[] = BACKPRESSURE_CASES): BackpressureCase[] {
  return cases.filter((c) => dataPath === 'native' || c.proto === 'tcp');
}

export interface Baseline {
  /** Idle RSS of the client pod's sidecar (hook, tproxy) and of the server pod's (inbound), bytes. */
  readonly client: number;
  readonly server: number;
}

/**
 * The most a path can hold in kernel socket buffers: per TCP connection on it, the sender's largest send buffer and the
 * receiver's largest receive buffer (tcp_wmem[2] + tcp_rmem[2], read in the pod), plus `slack`. Bytes in flight
 * beyond this would have to be held by the proxy itself.
 */
export async function kernelBufferBound(pod: Pod, connections: number, slack = 8 * MiB): Promise<number> {
  const max = async (name: string): Promise<number> => Number((await pod.exec('cat', [`/proc/sys/net/ipv4/${name}`])).stdout.trim().split(/\s+/)[2]);
  return connections * ((await max('tcp_rmem')) + (await max('tcp_wmem'))) + slack;
}

export interface BackpressureOutcome {
  readonly label: string;
  readonly bytes: number;
  readonly ms: number;
  readonly baseline: number;
  readonly ceiling: number;
  readonly peak: number;
  readonly series: RssSeries;
  /** Bytes the reader consumed during its slow phase, and the most it could have at its rate. */
  readonly slowBytes: number;
  readonly slowAllowed: number;
  /** Sender's progress minus the reader's at the end of the slow phase. */
  readonly inFlight: number;
  /** What kernel socket buffers alone can hold on the path (kernelBufferBound). */
  readonly inFlightBound: number;
  readonly problems: readonly string[];
}

function supervisorPid(mesh: IntegrityMesh, capture: CapturePath): number {
  const pid = mesh.proxyFor(capture).process.pid;
  if (pid === undefined) throw new Error('the sidecar has no pid');
  return pid;
}

async function idleRss(pid: number, ms: number): Promise<number> {
  const sampler = new RssSampler(pid, SAMPLE_MS).start();
  await new Promise((r) => setTimeout(r, ms));
  return sampler.stop().peak;
}

/**
 * Each sidecar's RSS at rest right after it started, before any traffic (stable: ~66 MiB per process here): the
 * baseline the ceiling is built on. Call it on fresh sidecars (after IntegrityMesh.create or restartProxies).
 */
export async function measureBaseline(mesh: IntegrityMesh): Promise<Baseline> {
  const [client, server] = await Promise.all([idleRss(supervisorPid(mesh, 'hook'), 1000), idleRss(supervisorPid(mesh, 'inbound'), 1000)]);
  return { client, server };
}

/**
 * The sender's progress at `t` (epoch ms): the last sample at or before it. A held-back sender moves only as fast as
 * the slow reader (2 MiB/s, so a 200 ms old sample is off by 0.4 MiB at most); a later sample would count what it sent
 * once the reader sped up.
 */
function progressAt(points: readonly (readonly [number, number])[], t: number): number {
  let sent = 0;
  for (const [at, n] of points) if (at <= t) sent = n;
  return sent;
}

export interface SlowReader {
  /** Bytes per second while slow. */
  readonly rate: number;
  /** How long the reader is slow, from its first byte. */
  readonly ms: number;
}

export const SLOW_READER: SlowReader = { rate: SLOW_RATE, ms: SLOW_MS };

export async function runBackpressureCase(mesh: IntegrityMesh, c: BackpressureCase, bytes: number, baseline: Baseline, reader: SlowReader = SLOW_READER): Promise<BackpressureOutcome> {
  const base = c.capture === 'inbound' ? baseline.server : baseline.client;
  const sampler = new RssSampler(supervisorPid(mesh, c.capture), SAMPLE_MS).start();
  let outcome: PathOutcome;
  let series: RssSeries;
  try {
    outcome = await mesh.run({ capture: c.capture, proto: c.proto, bytes, streams: 1, modes: [c.mode], slowRate: reader.rate, slowMs: reader.ms, progressMs: SAMPLE_MS });
  } finally {
    series = sampler.stop();
  }
  const upload = c.mode === 'up' || c.mode === 'upload';
  const slow: SlowPhase | undefined = upload ? outcome.server[0]?.slow : outcome.client.streams[0]?.slow;
  const sent = upload ? outcome.progress.map((p) => [p.t, p.sent] as const) : (outcome.server[0]?.sentAt ?? []);
  const problems = [...outcome.problems];
  // Two TCP connections on every path: client → sidecar, sidecar → app (or the server's sidecar's app).
  const inFlightBound = await kernelBufferBound(mesh.client, 2);
  if (slow === undefined && problems.length === 0) problems.push(`${outcome.label}: the reader reported no slow phase`);
  return {
    label: `${outcome.label} ${c.mode}`,
    bytes: outcome.bytes,
    ms: outcome.ms,
    baseline: base,
    ceiling: base + RSS_ALLOWANCE,
    peak: series.peak,
    series,
    slowBytes: slow?.bytes ?? 0,
    // The rate over the phase, plus one read's worth (64 KiB chunks) and scheduling slack under load.
    slowAllowed: (reader.rate * reader.ms) / 1000 + MiB,
    inFlight: slow === undefined ? 0 : progressAt(sent, slow.until) - slow.bytes,
    inFlightBound,
    problems,
  };
}
