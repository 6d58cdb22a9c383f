#!/usr/bin/env node
/**
 * Micro-benchmark of the connect() hook (a benchmark, not a test): the cost of a hooked connect (loopback handshake
 * + PROXY v2 header) against a plain loopback connect, measured by a small C client (bench-hook-connect.c) in a
 * throwaway network namespace that has only lo — so no connection can leave the machine even if the hook were
 * missing. Needs root (unshare --net) and gcc.
 *   node dist/scripts/bench-hook-connect.js [--iterations N] [--rounds R]
 * Prints a Markdown table (medians over the rounds of each statistic).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hookLibraryPath } from '../src/cli/commands/hook-path';
import { requireRoot } from './script-flags';

const MODES = ['plain', 'plain-write', 'hooked', 'hooked-nonblocking', 'hooked-passthrough'] as const;
type Mode = (typeof MODES)[number];

const DESCRIPTION: Record<Mode, string> = {
  plain: 'connect() to 127.0.0.1, no hook',
  'plain-write': 'connect() + send 79 bytes, no hook',
  hooked: 'hooked connect(): redirect + header (blocking)',
  'hooked-nonblocking': 'hooked connect() + poll (non-blocking)',
  'hooked-passthrough': 'hook loaded, loopback destination (passed through)',
};

interface Sample {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  loopMs: number;
  n: number;
}

function parseArgs(argv: string[]): { iterations: number; rounds: number } {
  const out = { iterations: 5000, rounds: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = Number(argv[i + 1]);
    if ((flag !== '--iterations' && flag !== '--rounds') || !Number.isInteger(value) || value < 1 || value > 1_000_000) {
      process.stderr.write(`bench-hook-connect: expected --iterations N and/or --rounds R (positive integers), got ${argv.slice(i, i + 2).join(' ')}\n`);
      process.exit(2);
    }
    out[flag === '--iterations' ? 'iterations' : 'rounds'] = value;
  }
  return out;
}

function runMode(bin: string, mode: Mode, n: number, hook: string): Sample {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, SIDELANE_OUTBOUND_PORT: '15001', SIDELANE_HOOK_ON_PROXY_DOWN: 'closed' };
  if (mode.startsWith('hooked')) env.LD_PRELOAD = hook;
  // A fresh namespace per run: only lo, up; it disappears with the process.
  const r = spawnSync('unshare', ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', bin, mode, String(n)], { env, encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`${mode}: exit ${r.status}: ${r.stderr.trim()}`);
  const [, , count, mean, p50, p90, p99, loopMs] = line.split(' ').map(Number);
  return { n: count!, mean: mean!, p50: p50!, p90: p90!, p99: p99!, loopMs: loopMs! };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const us = (ns: number): string => (ns / 1000).toFixed(1);

function main(): void {
  const { iterations, rounds } = parseArgs(process.argv.slice(2));
  requireRoot('bench-hook-connect', 'it runs each mode in its own network namespace with unshare --net');
  const hook = hookLibraryPath();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-bench-hook-'));
  try {
    const bin = path.join(dir, 'bench');
    execFileSync('gcc', ['-O2', '-pthread', '-o', bin, path.join(__dirname, '../../scripts/bench-hook-connect.c'), '-ldl'], { stdio: 'inherit' });
    const samples = new Map<Mode, Sample[]>(MODES.map((m) => [m, []]));
    // Rounds alternate the modes, so drift on a shared machine hits them all alike.
    for (let round = 0; round < rounds; round++) for (const mode of MODES) samples.get(mode)!.push(runMode(bin, mode, iterations, hook));
    const plain = median(samples.get('plain')!.map((s) => s.mean));
    const lines = [
      `connect() cost, ${iterations} iterations x ${rounds} rounds (medians over rounds; ${os.cpus().length} CPUs, Linux ${os.release()})`,
      '',
      '| mode | mean µs | p50 µs | p90 µs | p99 µs | connects/s (loop) | mean vs plain |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const mode of MODES) {
      const s = samples.get(mode)!;
      const mean = median(s.map((x) => x.mean));
      const perSecond = Math.round((iterations * 1000) / Math.max(1, median(s.map((x) => x.loopMs))));
      lines.push(
        `| ${DESCRIPTION[mode]} | ${us(mean)} | ${us(median(s.map((x) => x.p50)))} | ${us(median(s.map((x) => x.p90)))} | ${us(median(s.map((x) => x.p99)))} | ${perSecond} | ${(mean / plain).toFixed(2)}x |`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
