/**
 * Runs the demo as a user would (the CLI, non-interactively) and looks up what a demo mesh could leave behind,
 * independently of the demo's own report: namespaces by name, /etc/netns hosts files, processes still inside its
 * namespaces (by namespace inode, which outlives the name), capture state files, and the run directory.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { listNetns } from '../../../src/netns/lab';
import { CLI, cleanEnv } from '../../support/mesh';

export interface Leftovers {
  namespaces: string[];
  hostsFiles: string[];
  processes: string[];
  stateFiles: string[];
  runDir: boolean;
}

function processesIn(inodes: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const ns = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1];
      if (ns !== undefined && inodes.has(Number(ns))) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export async function leftovers(meshId: string, inodes: ReadonlySet<number>, runDir: string, stateDir = process.env.SIDELANE_STATE_DIR ?? '/run/sidelane'): Promise<Leftovers> {
  // Processes that exited a moment ago may still be in the table while their parent reaps them.
  let processes = processesIn(inodes);
  for (let i = 0; i < 50 && processes.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 40));
    processes = processesIn(inodes);
  }
  return {
    namespaces: (await listNetns()).filter((n) => n.startsWith(`${meshId}-`)),
    hostsFiles: existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(`${meshId}-`)) : [],
    processes,
    stateFiles: [...inodes].map((i) => path.join(stateDir, `netns-${i}.json`)).filter((f) => existsSync(f)),
    runDir: existsSync(runDir),
  };
}

export const NOTHING: Leftovers = { namespaces: [], hostsFiles: [], processes: [], stateFiles: [], runDir: false };

/** Runs `sidelane ARGS` to completion and collects its output. */
export function runCli(args: readonly string[], timeoutMs = 120_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`sidelane ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
