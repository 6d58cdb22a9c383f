/**
 * Runs many `sidelane` command lines through the CLI's own main() in one process, for tests of commander-level
 * usage errors (missing values, unknown flags) in bulk without a Node start-up per line: reads a JSON array of
 * argument lists on stdin and prints a JSON array of {code, stdout, stderr}. Run it inside a test pod: a line that
 * is wrongly accepted runs its command for real.
 */
import { readFileSync } from 'node:fs';
import { main } from '../../src/cli/main';

export interface BatchResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function runAll(lines: readonly (readonly string[])[]): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  for (const args of lines) {
    let stdout = '';
    let stderr = '';
    process.stdout.write = ((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    process.exitCode = undefined;
    let code: number;
    try {
      code = await main(['node', 'sidelane', ...args]);
    } catch (err) {
      code = -1;
      stderr += `UNCAUGHT ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    } finally {
      process.stdout.write = realOut;
      process.stderr.write = realErr;
    }
    out.push({ code, stdout, stderr });
  }
  process.exitCode = 0;
  return out;
}

if (require.main === module) {
  const lines = JSON.parse(readFileSync(0, 'utf8')) as string[][];
  void runAll(lines).then((results) => process.stdout.write(`${JSON.stringify(results)}\n`));
}
