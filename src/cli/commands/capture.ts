/** `sidelane capture show`: sidelane's installed rules with packet counters and the reason for each (-o json). */
import type { Command } from 'commander';
import { inspectCapture, type CaptureView } from '../../capture/inspection';
import { parseChoiceFlag } from '../../capture/validation';
import { namespaceDeps } from './capture-flags';

export function formatCaptureView(view: CaptureView): string {
  if (!view.installed) return 'sidelane capture is not installed in this network namespace\n';
  const rows = view.rules.map((r) => ({
    counters: `${r.packets}`.padStart(8) + ` ${r.bytes}`.padStart(11),
    where: `${r.backend}/${r.family} ${r.table}/${r.chain}`,
    rule: r.rule,
    reason: r.reason,
  }));
  const width = Math.max(...rows.map((r) => r.where.length), 10);
  const lines = ['    PKTS      BYTES  WHERE'.padEnd(22 + width) + 'RULE  # REASON'];
  for (const r of rows) lines.push(`${r.counters}  ${r.where.padEnd(width)}  ${r.rule}${r.reason ? `  # ${r.reason}` : ''}`);
  lines.push('', 'policy routes:', ...(view.routes.length ? view.routes.map((r) => `  ${r}`) : ['  (none)']));
  return `${lines.join('\n')}\n`;
}

export function registerCapture(program: Command): void {
  const capture = program.command('capture').description("inspect sidelane's traffic capture in the current network namespace");
  capture
    .command('show')
    .description('list the installed capture rules with packet counters and their reasons')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { output: string }) => {
      const format = parseChoiceFlag('--output', opts.output, ['text', 'json'] as const);
      const { runner, nft } = namespaceDeps();
      const view = await inspectCapture(runner, nft);
      process.stdout.write(format === 'json' ? `${JSON.stringify(view, null, 2)}\n` : formatCaptureView(view));
    });
}
