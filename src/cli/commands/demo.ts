/**
 * `sidelane demo`: Istio's bookinfo in network namespaces with sidelane as every sidecar, walked through step by
 * step (docs/demo.md); `--json` for a machine-readable summary, `--keep` / `--down` to explore a mesh and remove it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SidelaneError, UsageError } from '../../errors';
import { parseCount, parseFilePath } from '../options';
import { shown } from '../../capture/validation';

interface DemoFlags {
  requests: string;
  jasonRequests?: string;
  concurrency: string;
  keep?: boolean;
  down?: boolean | string;
  json?: string;
}

/** One clear line and exit 1 without root, before anything is loaded or created. */
function requireRoot(message: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new SidelaneError('SIDELANE_ERR_DEMO', message);
}

/** How a reader re-runs sidelane: the bin name when this process was started as it, else node + the script. */
function sidelaneInvocation(): string {
  const script = process.argv[1] ?? '';
  if (path.basename(script) === 'sidelane') return 'sidelane';
  return `${path.basename(process.execPath) === 'node' ? 'node' : process.execPath} ${path.resolve(script)}`;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description("Istio's bookinfo in network namespaces with sidelane as every sidecar, walked through step by step (root)")
    .option('--requests <n>', 'requests for the reviews split (plus a tenth, at least 10, as jason)', '200')
    .option('--jason-requests <n>', 'requests signed in as jason (default: a tenth of --requests, at least 10)')
    .option('--concurrency <n>', 'keep-alive connections the client uses', '4')
    .option('--json <file>', 'write the JSON summary to FILE (- = stdout; the walkthrough then goes to stderr)')
    .option('--keep', 'leave the mesh up and print the commands to explore it and to remove it')
    .option('--down [id]', 'remove the mesh ID (default: every one) left up by `sidelane demo --keep` or by a demo that was killed, then exit')
    .action(async (flags: DemoFlags) => {
      if (flags.json !== undefined && flags.json !== '-') parseFilePath('--json', flags.json, "a file path or '-' (stdout)");
      if (typeof flags.down === 'string' && !/^[a-z0-9][a-z0-9-]{0,40}$/.test(flags.down)) {
        // An empty id would otherwise read as "no --down" and start a whole demo.
        throw new UsageError(`--down: expected a demo mesh id like demo-1a2b3c (printed by \`sidelane demo --keep\`), got ${shown(flags.down)}`);
      }
      if (flags.down) {
        if (flags.keep) throw new UsageError('--down: expected on its own (it removes kept meshes), not with --keep');
        // Loaded on use: every other command starts without the demo's modules.
        requireRoot('demo --down needs root: it removes network namespaces and the processes in them');
        const { demoRunBase, listRecords, removable, removeDemo } = await import('../../demo/kept-demos.js');
        const only = typeof flags.down === 'string' ? flags.down : undefined;
        const records = listRecords().filter((r) => only === undefined || r.id === only);
        if (only !== undefined && records.length === 0) throw new SidelaneError('SIDELANE_ERR_DEMO', `--down: no demo mesh ${only} on this machine (see ${demoRunBase()})`);
        let removed = 0;
        for (const r of records) {
          if (!removable(r)) {
            process.stdout.write(`demo mesh ${r.id} belongs to a demo still running (pid ${r.pid}); left alone (Ctrl-C that demo to remove it)\n`);
            continue;
          }
          const pods = await removeDemo(r);
          removed++;
          process.stdout.write(`removed demo mesh ${r.id} (${pods} pods, ${r.kept ? 'kept' : 'its demo process had died'}, started ${r.createdAt})\n`);
        }
        if (removed === 0 && records.length === 0) process.stdout.write('no demo mesh to remove\n');
        return;
      }
      const requests = parseCount('--requests', flags.requests, 1, 100_000);
      const jasonRequests = flags.jasonRequests !== undefined ? parseCount('--jason-requests', flags.jasonRequests, 0, 100_000) : Math.max(10, Math.round(requests / 10));
      const concurrency = parseCount('--concurrency', flags.concurrency, 1, 256);
      requireRoot('demo needs root: it creates network namespaces and installs capture rules in them (run it with sudo)');
      const toStdout = flags.json === '-';
      const out = toStdout ? process.stderr : process.stdout;
      const { runDemo } = await import('../../demo/demo-run.js');
      const summary = await runDemo({
        requests,
        jasonRequests,
        concurrency,
        keep: flags.keep === true,
        write: (text) => out.write(text),
        emphasis: out.isTTY === true && process.env.NO_COLOR === undefined,
        sidelane: sidelaneInvocation(),
      });
      const json = `${JSON.stringify(summary, null, 2)}\n`;
      if (toStdout) await new Promise<void>((resolve) => process.stdout.write(json, () => resolve()));
      else if (flags.json !== undefined) writeFileSync(flags.json, json);
      if (!summary.ok) throw new SidelaneError('SIDELANE_ERR_DEMO', `demo: ${summary.problems.join('; ')}`);
    });
}
