/**
 * One run of `sidelane demo`, start to end: read the manifests, plan and stand up the mesh, walk through it, then
 * either keep it (printing how to explore and remove it) or remove everything and check that nothing is left —
 * also when interrupted (Ctrl-C, SIGTERM). Returns the JSON summary.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { FileStateStore } from '../capture/state';
import { SidelaneError } from '../errors';
import { assertRoot, listNetns, type Lab } from '../netns/lab';
import { pidsInNamespaces } from '../netns/namespace-processes';
import { demoFiles, type DemoFiles } from './demo-files';
import { DemoMesh } from './demo-mesh';
import type { DemoSummary } from './demo-summary';
import { demoRunBase, writeRecord, type DemoRecord } from './kept-demos';
import { mergeManifests, readManifest, selects, type MeshManifest } from './kube-manifest';
import { meshRoutes } from './mesh-config';
import { planMesh, type MeshPlan } from './mesh-plan';
import { Report } from './report';
import { percentile } from './traffic-split';
import { Walkthrough } from './walkthrough';

export interface DemoOptions {
  readonly requests: number;
  readonly jasonRequests: number;
  readonly concurrency: number;
  readonly keep: boolean;
  /** Where the walkthrough is written. */
  readonly write: (text: string) => void;
  readonly emphasis: boolean;
  /** How the reader invokes sidelane in the printed commands. */
  readonly sidelane: string;
  readonly files?: DemoFiles;
  readonly runBase?: string;
}

export function loadDemoManifest(files: DemoFiles): MeshManifest {
  return mergeManifests(...files.manifests.map((f) => readManifest(readFileSync(f, 'utf8'), path.relative(files.root, f))));
}

function leftBehind(lab: Lab, inodes: ReadonlySet<number>, dir: string, stateDir: string): NonNullable<DemoSummary['leftBehind']> {
  return {
    namespaces: [], // filled by the caller (async)
    hostsFiles: lab.namespaces().filter((ns) => existsSync(`/etc/netns/${ns}`)),
    processes: pidsInNamespaces(inodes),
    captureStateFiles: [...inodes].map((i) => path.join(stateDir, `netns-${i}.json`)).filter((f) => existsSync(f)),
    runDir: existsSync(dir),
  };
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  assertRoot('sidelane demo (it creates network namespaces and installs capture rules in them; run it as root)');
  const t0 = Date.now();
  const files = o.files ?? demoFiles();
  const manifest = loadDemoManifest(files);
  const plan: MeshPlan = planMesh(manifest, {}, 'bookinfo');
  const routes = meshRoutes(manifest, plan, 'bookinfo');
  const report = new Report(o.write, { emphasis: o.emphasis });

  // Interrupted (Ctrl-C, SIGTERM, SIGHUP): remove whatever exists so far, synchronously, and exit 128+signal.
  let current: { lab: Lab; dir: string; record: DemoRecord } | undefined;
  let kept = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    o.write(`\ninterrupted (${sig}): removing the demo mesh\n`);
    if (current && !kept) {
      current.lab.destroySync();
      rmSync(current.dir, { recursive: true, force: true });
    }
    process.exit(128 + (osConstants.signals[sig] ?? 2));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    report.title("sidelane demo — Istio's bookinfo with sidelane as every pod's sidecar");
    report.para(`Commands below run sidelane as \`${o.sidelane}\`. Starting ${plan.pods.length} pods…`);
    const mesh = await DemoMesh.up({
      files,
      manifest,
      plan,
      runBase: o.runBase ?? demoRunBase(),
      progress: (line) => report.line(`  ${line}`),
      created: (lab, dir) => {
        // Recorded from the start: if this process dies without cleaning up, `sidelane demo --down` finds the mesh.
        const record: DemoRecord = { version: 1, id: lab.id, dir, pid: process.pid, createdAt: new Date().toISOString(), kept: false };
        writeRecord(record);
        current = { lab, dir, record };
      },
    });
    const setupMs = Date.now() - t0;
    const walk = new Walkthrough(mesh, report, routes, o.sidelane);
    const inodes = new Set([...mesh.pods.values()].map((p) => p.inode));
    let trafficMs = 0;
    let walkthroughMs = 0;
    let teardownMs = 0;
    let partial: Awaited<ReturnType<Walkthrough['explain']>>;
    let traffic: Awaited<ReturnType<Walkthrough['sendTraffic']>>;
    try {
      walk.describeMesh(setupMs);
      traffic = await walk.sendTraffic(o);
      trafficMs = traffic.ms;
      const t1 = Date.now();
      partial = await walk.explain(traffic);
      walkthroughMs = Date.now() - t1;
    } catch (err) {
      await mesh.down();
      throw err;
    }

    let left: DemoSummary['leftBehind'];
    report.line();
    if (o.keep) {
      kept = true;
      mesh.lab.keep();
      writeRecord({ ...current!.record, kept: true });
      walk.explore(`${o.sidelane} demo --down ${mesh.lab.id}`);
    } else {
      const t2 = Date.now();
      await mesh.down();
      teardownMs = Date.now() - t2;
      const stateDir = new FileStateStore().dir;
      const l = leftBehind(mesh.lab, inodes, mesh.dir, stateDir);
      const live = new Set(await listNetns());
      left = { ...l, namespaces: mesh.lab.namespaces().filter((ns) => live.has(ns)) };
      const clean = left.namespaces.length + left.hostsFiles.length + left.processes.length + left.captureStateFiles.length === 0 && !left.runDir;
      report.para(
        clean
          ? `Removed everything in ${(teardownMs / 1000).toFixed(1)} s: ${mesh.lab.namespaces().length} namespaces with their processes, hosts files and capture state. (Run with --keep to leave the mesh up and explore it.)`
          : `Teardown left something behind: ${JSON.stringify(left)}`,
      );
    }

    const all = [...traffic.outcomes, ...traffic.jason];
    const problems: string[] = [];
    const failed = all.filter((x) => !x.ok);
    if (failed.length) problems.push(`${failed.length} of ${all.length} requests failed (first: ${failed[0]!.error ?? failed[0]!.status})`);
    if (!traffic.fallback.ok) problems.push(`the request without the hook failed: ${traffic.fallback.error}`);
    if (!partial.split.withinTolerance) problems.push(`the reviews split ${JSON.stringify(partial.split.observed)} is outside the configured ${JSON.stringify(partial.split.expected)} ± tolerance`);
    if (!partial.jason.withinTolerance) problems.push(`jason's requests reached ${JSON.stringify(partial.jason.observed)}, expected ${JSON.stringify(partial.jason.expected)}`);
    const tracked = Object.entries(partial.conntrack).filter(([, n]) => n !== 0);
    if (tracked.length) problems.push(`conntrack entries in ${tracked.map(([p, n]) => `${p} (${n})`).join(', ')}`);
    if (left && (left.namespaces.length || left.hostsFiles.length || left.processes.length || left.captureStateFiles.length || left.runDir)) {
      problems.push('teardown left something behind');
    }
    const ms = all.map((x) => x.ms);
    return {
      version: 1,
      ok: problems.length === 0,
      problems,
      mesh: {
        id: mesh.lab.id,
        dir: mesh.dir,
        pods: [...mesh.pods.values()].map((p) => ({
          name: p.plan.name,
          netns: p.pod.netns,
          netnsInode: p.inode,
          ipv4: p.plan.ipv4,
          deployment: p.plan.deployment?.name ?? null,
          app: p.plan.app?.role ?? null,
          version: p.plan.app?.version ?? null,
          config: p.configFile,
        })),
        services: plan.services.map((s) => ({
          host: s.fqdn,
          vip: s.vip,
          endpoints: plan.pods.filter((p) => p.deployment && selects(s.service.selector, p.deployment.labels)).map((p) => p.ipv4),
        })),
      },
      requests: all,
      fallback: traffic.fallback as DemoSummary['fallback'],
      split: partial.split,
      jason: partial.jason,
      latencyMs: { p50: percentile(ms, 50), p90: percentile(ms, 90), p99: percentile(ms, 99), max: percentile(ms, 100) },
      conntrack: partial.conntrack,
      conntrackLoaded: partial.conntrackLoaded,
      metrics: partial.metrics,
      timings: { setupMs, trafficMs, walkthroughMs, teardownMs, totalMs: Date.now() - t0, startup: Object.fromEntries(mesh.startup) },
      kept: o.keep,
      ...(left ? { leftBehind: left } : {}),
    };
  } catch (err) {
    if (err instanceof SidelaneError) throw err;
    throw new SidelaneError('SIDELANE_ERR_DEMO', `demo failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
