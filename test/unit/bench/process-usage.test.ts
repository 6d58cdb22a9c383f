import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRss, parseStat, processTree, sampleProcesses, type ProcFs } from '../../../src/bench/process-usage';

/** A /proc made of recorded files. */
function fakeProc(files: Record<string, string>): ProcFs {
  return {
    readText: (p) => files[p],
    list: (p) => {
      const prefix = p.endsWith('/') ? p : `${p}/`;
      const names = new Set<string>();
      for (const f of Object.keys(files)) if (f.startsWith(prefix)) names.add(f.slice(prefix.length).split('/')[0]!);
      return names.size ? [...names] : undefined;
    },
  };
}

function stat(pid: number, comm: string, ppid: number, utime: number, stime: number): string {
  // Fields 1-2, state, ppid, then 9 fields up to utime (field 14) and stime (15), then the rest.
  return `${pid} (${comm}) S ${ppid} 1 1 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 100 1000 200\n`;
}

test('parseStat takes ppid, utime and stime after the last parenthesis (names may hold spaces and parentheses)', () => {
  assert.deepEqual(parseStat(stat(42, 'node', 7, 150, 50)), { ppid: 7, cpuTicks: 200 });
  assert.deepEqual(parseStat(stat(43, 'weird) (name', 1, 3, 4)), { ppid: 1, cpuTicks: 7 });
  assert.equal(parseStat('garbage'), undefined);
});

test('parseRss reads VmRSS in kB as bytes; a zombie has none', () => {
  assert.equal(parseRss('Name:\tnode\nVmRSS:\t   51200 kB\nThreads: 7\n'), 51200 * 1024);
  assert.equal(parseRss('Name:\tzombie\nState:\tZ (zombie)\n'), 0);
});

test('a sidecar is its process tree: CPU, RSS and fds are summed over the root and its descendants only', () => {
  const proc = fakeProc({
    '/proc/10/stat': stat(10, 'sidelane', 1, 100, 100),
    '/proc/10/status': 'VmRSS:\t1000 kB\n',
    '/proc/10/fd/0': '',
    '/proc/10/fd/1': '',
    '/proc/11/stat': stat(11, 'worker', 10, 50, 50),
    '/proc/11/status': 'VmRSS:\t500 kB\n',
    '/proc/11/fd/0': '',
    '/proc/12/stat': stat(12, 'grandchild', 11, 1, 1),
    '/proc/12/status': 'VmRSS:\t100 kB\n',
    '/proc/99/stat': stat(99, 'unrelated', 1, 9999, 9999),
    '/proc/99/status': 'VmRSS:\t9999 kB\n',
    '/proc/self/stat': 'not a pid directory',
  });
  assert.deepEqual(processTree([10], proc).sort(), [10, 11, 12]);
  const u = sampleProcesses([10], proc, 100);
  assert.equal(u.cpuSeconds, 3.02);
  assert.equal(u.rssBytes, 1600 * 1024);
  assert.equal(u.fds, 3);
  assert.deepEqual(sampleProcesses([], proc, 100), { pids: [], cpuSeconds: 0, rssBytes: 0, fds: 0 });
});

test('sampling this very process through the real /proc sees its memory, descriptors and CPU time', () => {
  const before = sampleProcesses([process.pid]);
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += i % 7;
  const after = sampleProcesses([process.pid]);
  assert.ok(x > 0);
  assert.ok(after.pids.includes(process.pid));
  assert.ok(after.rssBytes > 10 * 1024 * 1024, `RSS ${after.rssBytes}`);
  assert.ok(after.fds >= 3);
  assert.ok(after.cpuSeconds > before.cpuSeconds, `CPU ${before.cpuSeconds} → ${after.cpuSeconds}`);
});
