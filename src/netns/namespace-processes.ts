/**
 * Which processes live in a named network namespace (/run/netns/<name>): every /proc/<pid>/ns/net that points at
 * the same namespace inode. Deleting a namespace only unmounts its name — a process still inside keeps it (and its
 * sockets and rules) alive — so a lab must find and end these before it can say it left nothing behind.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/** The namespace's inode, or undefined when no such named namespace exists. */
export function netnsInode(name: string): number | undefined {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

/** Pids whose network namespace has one of these inodes (the caller's own pid is never listed). */
export function pidsInNamespaces(inodes: ReadonlySet<number>): number[] {
  if (inodes.size === 0) return [];
  const wanted = new Set([...inodes].map((i) => `net:[${i}]`));
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (wanted.has(readlinkSync(`/proc/${entry}/ns/net`))) out.push(Number(entry));
    } catch {
      // the process exited meanwhile, or is a kernel thread we may not inspect
    }
  }
  return out;
}

/** True while the process runs; a zombie (exited, not yet reaped by its new parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) S …" — the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends the signal to each pid (processes inside namespaces the caller created); ignores ones already gone. */
export function signalAll(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs each pid. */
export function killAll(pids: readonly number[]): void {
  signalAll(pids, 'SIGKILL');
}

/** Resolves when none of the pids is alive any more, or after timeoutMs; returns the ones still alive. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    alive = alive.filter(isAlive);
  }
  return alive;
}
