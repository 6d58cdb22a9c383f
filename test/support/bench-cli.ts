/**
 * Runs `sidelane bench` as a child process for e2e tests, with a private capture state directory (init's state
 * files go there, so a test can prove cleanup removed them without seeing other tests' files), and tells which
 * lab (namespace prefix) the run used, read from its progress lines.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './golden-file';

const MAIN = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export interface BenchRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The lab id (e.g. `slb-1a2b3c`) from the progress lines, if the run got that far. */
  readonly labId: string | undefined;
  /** Capture state files left in the run's private state directory. */
  readonly leftStateFiles: readonly string[];
}

export function runBenchCli(args: readonly string[], timeoutMs: number): Promise<BenchRun> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-state-'));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SIDELANE_STATE_DIR: stateDir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // SIGTERM lets the bench remove what it created, as it does for Ctrl-C.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const leftStateFiles = existsSync(stateDir) ? readdirSync(stateDir) : [];
      rmSync(stateDir, { recursive: true, force: true });
      const labId = /\(pods (slb-[0-9a-f]+)-/.exec(stderr)?.[1];
      resolve({ code, stdout, stderr, labId, leftStateFiles });
    });
  });
}
