#!/usr/bin/env node
/**
 * Profiles the sidecars under one load (a tool for the speed work, issue 11; not a test, not the benchmark): two
 * pods with sidelane's default capture (TPROXY inbound, hook outbound), `sidelane run` in each with V8's CPU
 * profiler (--cpu-prof) or under `perf record`, nginx in the server pod, and wrk in the client pod (hooked) with the
 * benchmark's scenarios: keep-alive (port 80, relayed as TCP), churn (port 80, Connection: close), l7 (port 8080,
 * declared HTTP). Prints wrk's numbers, each sidecar's CPU per request, and the hottest functions of each worker's
 * profile (self time), grouped by script; the profiles stay in --out for Chrome DevTools / speedscope.
 *   sudo node dist/scripts/profile-sidecar.js --scenario churn [--seconds 5] [--connections 32] [--data-path js]
 *     [--concurrency 1] [--no-profile] [--perf] [--out DIR] [--top 40]
 * --node-args "FLAGS": extra Node/V8 flags for the sidecars and their workers (e.g. "--trace-deopt").
 * --init-args "FLAGS" / --run-args "FLAGS": extra flags for `sidelane init` / `sidelane run` in both pods (e.g. both
 * "--no-preserve-source", to see what source preservation costs).
 * --strace: count the sidecars' system calls per request or connection (strace -c; slows them down).
 * --perf: instead of V8's profiler, `perf record` the sidecar processes (all threads, kernel included; JIT frames
 * named through --perf-basic-prof) and print `perf report` by thread, shared object and symbol.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, stopProcess, type Pod } from '../src/netns/lab';
import { benchRoutingConfig } from '../src/bench/routing-config';
import { HTTP_PORT, L7_PORT, startServerApps } from '../src/bench/server-apps';
import { parseWrk, wrkArgv } from '../src/bench/tools/wrk';

const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const has = (name: string): boolean => process.argv.includes(name);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Self time per function (top N) and per script, from a .cpuprofile. */
function summarise(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const script = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const where = f.url ? f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:') : '(native)';
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const s = f.url ? where : f.functionName.startsWith('(') ? f.functionName : '(native)';
    script.set(s, (script.get(s) ?? 0) + us);
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled`];
  lines.push('  by script:');
  for (const [k, us] of [...script].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${pct(us)}  ${k}`);
  lines.push('  by function (self):');
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  return lines.join('\n');
}

/** Sampled time not spent idle, from a .cpuprofile. */
function busyMicros(file: string): number {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  let us = 0;
  for (let i = 0; i < p.samples.length; i++) if (!idle.has(p.samples[i]!)) us += p.timeDeltas[i] ?? 0;
  return us;
}

function cpuSeconds(pid: number): number {
  // utime + stime of the process and its children (the supervisor's workers), in clock ticks.
  let total = 0;
  const visit = (p: number): void => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').slice(readFileSync(`/proc/${p}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
      total += Number(f[11]) + Number(f[12]);
    } catch {
      return;
    }
    for (const t of readdirSync(`/proc/${p}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(c));
      } catch {
        // thread gone
      }
    }
  };
  visit(pid);
  return total / 100;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) out.push(Number(c), ...descendants(Number(c)));
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU seconds (user, system) per thread name of the sidecar's worker processes. */
function threadCpu(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  for (const p of descendants(pid)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const name = Number(t) === p ? 'js-main' : comm.replace(/\d+$/, '');
        const e = out.get(name) ?? { user: 0, sys: 0 };
        e.user += Number(f[11]) / 100;
        e.sys += Number(f[12]) / 100;
        out.set(name, e);
      } catch {
        // thread gone
      }
    }
  }
  return out;
}

async function waitListening(pod: Pod): Promise<void> {
  // Up to 60 s: a profiled start on a loaded 2-core machine took more than 20.
  for (let i = 0; i < 600; i++) {
    const r = await pod.exec('ss', ['-Hltn'], { allowFailure: true });
    if (/:15001\b/.test(r.stdout) && /:15006\b/.test(r.stdout)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sidecar in ${pod.name} did not listen`);
}

async function main(): Promise<void> {
  const scenario = arg('--scenario', 'churn');
  const seconds = Number(arg('--seconds', '5'));
  const connections = Number(arg('--connections', '32'));
  const dataPath = arg('--data-path', 'native');
  const concurrency = arg('--concurrency', '1');
  const top = Number(arg('--top', '40'));
  const perf = has('--perf');
  const strace = has('--strace');
  const profile = !has('--no-profile') && !perf && !strace;
  // Extra V8/Node flags for the sidecars and their workers (e.g. "--trace-deopt"), split on spaces.
  const nodeArgs = arg('--node-args', '').split(' ').filter(Boolean);
  const initArgs = arg('--init-args', '').split(' ').filter(Boolean);
  const runArgs = arg('--run-args', '').split(' ').filter(Boolean);
  const out = path.resolve(arg('--out', path.join(os.tmpdir(), `sidelane-profile-${scenario}`)));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const lab = await Lab.create({ prefix: 'slp', ipv6: false });
  const sidecars: { pod: Pod; child: ReturnType<Pod['spawn']> }[] = [];
  try {
    const client = await lab.addPod('c');
    const server = await lab.addPod('s');
    await startServerApps(server, out);
    const config = path.join(out, 'sidelane.yaml');
    writeFileSync(config, benchRoutingConfig(server.ipv4));
    for (const pod of [client, server]) {
      await pod.exec('env', [`SIDELANE_STATE_DIR=${path.join(out, `state-${pod.name}`)}`, process.execPath, CLI, 'init', ...initArgs]);
      const dir = path.join(out, pod === client ? 'client-sidecar' : 'server-sidecar');
      mkdirSync(dir, { recursive: true });
      // Workers are forked with the supervisor's execArgv, so they profile too (NODE_OPTIONS may not carry --cpu-prof).
      const prof = profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : perf ? ['--perf-basic-prof'] : [];
      prof.push(...nodeArgs);
      const child = pod.spawn(process.execPath, [...prof, CLI, 'run', '--config', config, '--concurrency', concurrency, '--access-log', 'off', '--data-path', dataPath, '--admin-port', '0', ...runArgs]);
      child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${pod.name}] ${d}`));
      child.stdout?.on('data', (d: Buffer) => process.stdout.write(`[${pod.name}] ${d}`));
      sidecars.push({ pod, child });
    }
    await Promise.all([client, server].map(waitListening));
    const port = scenario === 'l7' ? L7_PORT : HTTP_PORT;
    const url = `http://${server.ipv4}:${port}/`;
    const hooked = (argv: string[]): string[] => [process.execPath, CLI, 'exec', '--', ...argv];
    // Warm-up (JIT, pools), not profiled separately: profiles cover it, but it is short next to the run.
    await client.exec(hooked(wrkArgv({ url, connections, durationMs: 1000 }))[0]!, hooked(wrkArgv({ url, connections, durationMs: 1000 })).slice(1), { allowFailure: true });
    const before = sidecars.map((s) => cpuSeconds(s.child.pid!));
    const threadsBefore = sidecars.map((s) => threadCpu(s.child.pid!));
    const argv = hooked(wrkArgv({ url, connections, durationMs: seconds * 1000, closeEachConnection: scenario === 'churn', threads: 2 }));
    const perfFile = path.join(out, 'perf.data');
    const recorder = perf
      ? spawn('perf', ['record', '-F', '499', '-g', '-o', perfFile, '-p', sidecars.flatMap((s) => [s.child.pid!, ...descendants(s.child.pid!)]).join(','), '--', 'sleep', String(seconds)], { stdio: 'ignore' })
      : undefined;
    const traceFile = path.join(out, 'strace.txt');
    const tracer = strace
      ? spawn('strace', ['-c', '-f', '-o', traceFile, ...sidecars.flatMap((s) => descendants(s.child.pid!)).flatMap((p) => ['-p', String(p)])], { stdio: 'ignore' })
      : undefined;
    if (tracer) await new Promise((res) => setTimeout(res, 500));
    const r = await client.exec(argv[0]!, argv.slice(1), { timeoutMs: seconds * 1000 + 30_000 });
    if (recorder) await new Promise((res) => recorder.once('exit', res));
    if (tracer) {
      tracer.kill('SIGINT');
      await new Promise((res) => tracer.once('exit', res));
    }
    const cpu = sidecars.map((s, i) => cpuSeconds(s.child.pid!) - before[i]!);
    const threadsAfter = sidecars.map((s) => threadCpu(s.child.pid!));
    const w = parseWrk(r.stdout);
    const unit = scenario === 'churn' ? 'conn' : 'req';
    for (const [i, side] of ['client', 'server'].entries()) {
      const parts: string[] = [];
      for (const [name, a] of threadsAfter[i]!) {
        const b = threadsBefore[i]!.get(name) ?? { user: 0, sys: 0 };
        const us = ((a.user - b.user) * 1e6) / w.requests;
        const sy = ((a.sys - b.sys) * 1e6) / w.requests;
        if (us + sy >= 1) parts.push(`${name} ${us.toFixed(0)}+${sy.toFixed(0)}`);
      }
      console.log(`${side} worker threads, µs per ${unit} (user+sys): ${parts.join(', ')}`);
    }
    console.log(`${scenario} (${dataPath} data path, concurrency ${concurrency}): ${w.requestsPerSecond.toFixed(0)} ${unit}/s, p50 ${w.latencyMs.p50} ms, p99 ${w.latencyMs.p99} ms, errors ${JSON.stringify(w.errors)}`);
    console.log(`sidecar CPU per ${unit}: client ${((cpu[0]! * 1e6) / w.requests).toFixed(0)} µs, server ${((cpu[1]! * 1e6) / w.requests).toFixed(0)} µs`);
    if (strace) {
      const per = (calls: number): string => (calls / w.requests).toFixed(2);
      const lines = readFileSync(traceFile, 'utf8').split('\n').filter((l) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l));
      console.log(`system calls of both sidecars' workers per ${unit} (strace -c; calls / ${unit}, errors):`);
      for (const l of lines) {
        const f = l.trim().split(/\s+/);
        const calls = Number(f[3]);
        const errors = f.length > 5 ? Number(f[4]) : 0;
        console.log(`  ${f[f.length - 1]!.padEnd(16)} ${per(calls).padStart(7)}${errors ? `  (${per(errors)} failed)` : ''}`);
      }
    }
    if (perf) {
      const report = spawnSync('perf', ['report', '-i', perfFile, '--no-children', '--sort', 'comm,dso', '--stdio', '-g', 'none', '--percent-limit', '0.5'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      console.log(report.stdout.split('\n').filter((l) => l && !l.startsWith('#')).join('\n'));
      const syms = spawnSync('perf', ['report', '-i', perfFile, '--no-children', '--sort', 'comm,sym', '--stdio', '-g', 'none', '--percent-limit', '0.4'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      console.log(syms.stdout.split('\n').filter((l) => l && !l.startsWith('#')).slice(0, top).join('\n'));
    }
    for (const s of sidecars) await stopProcess(s.child, 15_000);
    sidecars.length = 0;
    if (profile) {
      for (const side of ['client-sidecar', 'server-sidecar']) {
        const dir = path.join(out, side);
        const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
        // The busiest profile is the worker (the supervisor idles; its profile can still be the larger file).
        const busy = new Map(files.map((f) => [f, busyMicros(f)]));
        files.sort((a, b) => busy.get(b)! - busy.get(a)!);
        if (files[0]) console.log(`\n== ${side} ==\n${summarise(files[0], top)}`);
      }
      console.log(`\nprofiles in ${out}`);
    }
  } finally {
    for (const s of sidecars) await stopProcess(s.child, 5000).catch(() => undefined);
    await lab.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
