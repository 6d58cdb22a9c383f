/**
 * One benchmark run: builds a client pod and a server pod per mode (src/netns/lab), starts the server apps, sets
 * each mode up through the real CLI, checks that traffic really crosses its sidecars, then runs the planned cells
 * (modes alternating, repeated) and returns the result. Everything it creates — namespaces, processes, capture and
 * its state files, the work directory — is removed at the end, on failure, and on SIGINT/SIGTERM/SIGHUP.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SidelaneError } from '../errors';
import type { CommandRunner } from '../netns/command';
import { assertRoot, Lab } from '../netns/lab';
import { CaptureInstallations } from './capture-installations';
import { describeMachine, loadAverage } from './machine';
import { MODES } from './modes';
import { modeSlug, type ModeEnvironment, type RunningMode } from './modes/mode';
import { runInPodChecked } from './pod-process';
import { sampleProcesses } from './process-usage';
import { waitFor } from './readiness';
import { RESULT_SCHEMA, summarise, type BenchResult, type CellRecord, type ModeInfo, type RunSettings, type ScenarioInfo } from './result';
import { planCells, type PlannedCell } from './schedule';
import { SCENARIOS } from './scenarios';
import type { Metrics, ProxyUsage, ScenarioContext } from './scenarios/scenario';
import { HTTP_PORT, L7_PORT, RESPONSE_BODY, startServerApps, type ServerApps } from './server-apps';
import type { BenchSettings, ModeName } from './settings';
import type { SidelaneCli } from './sidelane-cli';
import { ensureTools } from './toolchain';
import { parseWrk, wrkArgv } from './tools/wrk';

export interface BenchDeps {
  readonly cli: SidelaneCli;
  readonly runner: CommandRunner;
  /** Progress lines (stderr in the CLI). */
  readonly log: (line: string) => void;
  readonly now: () => Date;
}

interface ModeUnderTest {
  readonly mode: RunningMode;
  readonly apps: ServerApps;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function applies(scenario: keyof typeof SCENARIOS, mode: ModeName): boolean {
  return SCENARIOS[scenario].appliesTo(mode);
}

/** The scenario descriptions of a run (with the modes each one applies to). */
export function scenarioInfos(settings: Pick<BenchSettings, 'scenarios' | 'modes'>): ScenarioInfo[] {
  return settings.scenarios.map((name) => {
    const s = SCENARIOS[name];
    return { name, title: s.title, method: s.method, peer: s.peer, metrics: s.metrics, modes: settings.modes.filter((m) => s.appliesTo(m)) };
  });
}

export function runSettings(s: BenchSettings): RunSettings {
  return {
    modes: s.modes,
    scenarios: s.scenarios,
    repeat: s.repeat,
    durationMs: s.durationMs,
    warmupMs: s.warmupMs,
    connections: s.connections,
    concurrency: s.concurrency,
    rate: s.rate,
    idleConnections: s.idleConnections,
    burstConnections: s.burstConnections,
    quick: s.quick,
  };
}

/** The headline values of a cell, for the progress line. */
function describeMetrics(scenario: keyof typeof SCENARIOS, metrics: Metrics): string {
  return SCENARIOS[scenario].metrics
    .filter((m) => m.headline && metrics[m.key] !== undefined)
    .map((m) => `${m.key}=${Number(metrics[m.key]!.toPrecision(4))}`)
    .join(' ');
}

function usageOf(sidecars: readonly number[]): () => ReturnType<typeof sampleProcesses> {
  return () => sampleProcesses(sidecars);
}

export async function runBench(settings: BenchSettings, deps: BenchDeps): Promise<BenchResult> {
  assertRoot('sidelane bench (it creates network namespaces and capture rules)');
  const { log } = deps;
  await ensureTools(deps.runner, true, log);
  const startedAt = deps.now();
  const machine = await describeMachine(deps.runner);
  const workDir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-'));
  chmodSync(workDir, 0o755); // HAProxy runs as uid 1337 and reads its configuration from here
  const captures = new CaptureInstallations(deps.cli);
  const env: ModeEnvironment = { cli: deps.cli, captures, settings, workDir };
  let lab: Lab | undefined;

  // Registered before the lab exists, so it runs before the lab's own last-resort handler (which exits at once).
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`sidelane bench: ${signal}: removing the benchmark's pods, processes and capture\n`);
    captures.cleanupAllSync();
    lab?.destroySync();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  for (const sig of SIGNALS) process.once(sig, onSignal);

  const underTest = new Map<ModeName, ModeUnderTest>();
  const cells: CellRecord[] = [];
  try {
    lab = await Lab.create({ prefix: 'slb', ipv6: false });
    const created = lab;
    // Set-up runs for all modes at once (it is mostly process start-up and rule installation); warm-ups, which
    // also check that traffic crosses every sidecar, run one mode at a time.
    log(`setting up ${settings.modes.join(', ')} (pods ${created.id}-<mode>-c and -s)`);
    const outcomes = await Promise.allSettled(
      settings.modes.map(async (name) => {
        const slug = modeSlug(name);
        const client = await created.addPod(`${slug}-c`);
        const server = await created.addPod(`${slug}-s`);
        const apps = await startServerApps(server, workDir);
        const mode = await MODES[name].start({ client, server }, env);
        underTest.set(name, { mode, apps });
      }),
    );
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    for (const name of settings.modes) await warmUp(underTest.get(name)!.mode, settings, log);

    const plan = planCells(settings.scenarios, settings.modes, settings.repeat, applies);
    log(`running ${plan.length} cells: ${settings.repeat} repetition(s) × ${settings.scenarios.length} scenario(s), modes alternating`);
    for (const [index, cell] of plan.entries()) {
      const record = await runCell(index, cell, underTest.get(cell.mode)!, settings, workDir, deps);
      cells.push(record);
      const what = record.error !== undefined ? `FAILED: ${record.error}` : describeMetrics(cell.scenario, record.metrics);
      log(`[${index + 1}/${plan.length}] rep ${cell.repetition + 1} ${cell.scenario.padEnd(16)} ${cell.mode.padEnd(12)} ${what} (${record.seconds.toFixed(1)} s)`);
    }
    machine.loadAverageEnd = loadAverage();

    if (settings.keep) {
      log(`--keep: lab ${lab.id} is kept (pods: ${lab.pods.map((p) => p.netns).join(', ')}); press Ctrl-C to remove it`);
      setInterval(() => undefined, 1 << 30); // keeps the process alive; the signal handler removes everything and exits
      await new Promise<never>(() => undefined);
    }
  } finally {
    for (const { mode } of underTest.values()) await mode.stop().catch(() => undefined);
    await captures.cleanupAll().catch(() => undefined);
    await lab?.destroy();
    rmSync(workDir, { recursive: true, force: true });
    for (const sig of SIGNALS) process.off(sig, onSignal);
  }

  const modes: ModeInfo[] = settings.modes.map((name) => ({ name, description: MODES[name].description }));
  const scenarios = scenarioInfos(settings);
  return {
    schema: RESULT_SCHEMA,
    startedAt: startedAt.toISOString(),
    finishedAt: deps.now().toISOString(),
    machine,
    settings: runSettings(settings),
    modes,
    scenarios,
    cells,
    summary: summarise(scenarios, cells),
  };
}

/** The HTTP ports a mode's scenarios use (the L7 port only where the l7 scenario runs). */
function portsUsed(name: ModeName, settings: BenchSettings): number[] {
  const ports: number[] = [];
  if (settings.scenarios.some((s) => s !== 'l7' && SCENARIOS[s].appliesTo(name))) ports.push(HTTP_PORT);
  if (settings.scenarios.includes('l7') && SCENARIOS.l7.appliesTo(name)) ports.push(L7_PORT);
  return ports;
}

/**
 * Proves the path works (a request through the mode answers) and warms it (JIT, pools, ARP) with wrk; each sidecar
 * must have used CPU during the warm-up, or the traffic did not go through it and the mode would measure `direct`.
 */
async function warmUp(mode: RunningMode, settings: BenchSettings, log: (line: string) => void): Promise<void> {
  const { client, server } = mode.pods;
  for (const port of portsUsed(mode.name, settings)) {
    const url = `http://${server.ipv4}:${port}/`;
    await waitFor(
      `a response from ${url} through ${mode.name}`,
      async () => {
        const r = await runInPodChecked(client, mode.clientArgv(['curl', '-sS', '--max-time', '2', url]), { timeoutMs: 10_000 });
        return r.stdout === RESPONSE_BODY;
      },
      15_000,
      () => mode.fault(),
      200,
    );
    if (settings.warmupMs <= 0) continue;
    const before = sampleProcesses(mode.sidecars.map((d) => d.pid));
    const perSidecarBefore = mode.sidecars.map((d) => sampleProcesses([d.pid]).cpuSeconds);
    const r = await runInPodChecked(client, mode.clientArgv(wrkArgv({ url, connections: settings.connections, durationMs: settings.warmupMs })), {
      timeoutMs: settings.warmupMs + 30_000,
    });
    const report = parseWrk(r.stdout);
    mode.sidecars.forEach((d, i) => {
      if (sampleProcesses([d.pid]).cpuSeconds - perSidecarBefore[i]! <= 0) {
        throw new SidelaneError('SIDELANE_ERR_BENCH', `${mode.name}: ${d.name} in pod ${d.pod.name} used no CPU during warm-up: traffic is not passing through it`);
      }
    });
    const used = sampleProcesses(mode.sidecars.map((d) => d.pid)).cpuSeconds - before.cpuSeconds;
    log(`  warm-up ${mode.name} :${port}: ${Math.round(report.requestsPerSecond)} req/s${mode.sidecars.length ? `, sidecars ${used.toFixed(2)} CPU s` : ''}`);
  }
}

async function runCell(index: number, cell: PlannedCell, target: ModeUnderTest, settings: BenchSettings, workDir: string, deps: BenchDeps): Promise<CellRecord> {
  const { mode, apps } = target;
  const started = deps.now();
  const t0 = performance.now();
  const cellDir = path.join(workDir, 'cells', String(index));
  mkdirSync(cellDir, { recursive: true });
  const pids = mode.sidecars.map((d) => d.pid);
  const sample = usageOf(pids);
  const ctx: ScenarioContext = {
    mode,
    settings,
    server: apps,
    cellDir,
    sampleSidecars: () => mode.sidecars.map((d) => sampleProcesses([d.pid])),
    async measureProxy<T>(body: () => Promise<T>): Promise<{ result: T; usage: ProxyUsage }> {
      const w0 = performance.now();
      const u0 = sample();
      const result = await body();
      const u1 = sample();
      const usage: ProxyUsage = {
        cpuSeconds: u1.cpuSeconds - u0.cpuSeconds,
        wallSeconds: (performance.now() - w0) / 1000,
        rssBytes: u1.rssBytes,
        fds: u1.fds,
        sidecars: pids.length,
      };
      return { result, usage };
    },
  };
  const base = { index, repetition: cell.repetition, scenario: cell.scenario, mode: cell.mode, startedAt: started.toISOString() };
  const seconds = (): number => Math.round((performance.now() - t0) / 100) / 10;
  const fault = mode.fault();
  if (fault) return { ...base, seconds: 0, metrics: {}, error: fault };
  try {
    const metrics = await SCENARIOS[cell.scenario].run(ctx);
    const after = mode.fault();
    if (after) return { ...base, seconds: seconds(), metrics, error: after };
    return { ...base, seconds: seconds(), metrics };
  } catch (err) {
    return { ...base, seconds: seconds(), metrics: {}, error: err instanceof Error ? err.message : String(err) };
  } finally {
    rmSync(cellDir, { recursive: true, force: true });
  }
}
