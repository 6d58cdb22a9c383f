#!/usr/bin/env node
/**
 * The churn-load soak (issue 10): the scenario of test/e2e/reliability/load.test.ts (test/support/load-scenario.ts)
 * for as long and as wide as asked — hooked clients hold N connections through a client sidecar and a server
 * sidecar, replacing them continuously — then prints what was measured and whether both proxies came back to rest.
 * Exit 0 when nothing failed and nothing leaked, 1 otherwise. Needs root (network namespaces).
 *   sudo npm run soak:load -- [--duration 600] [--connections 5000] [--rate 250] [--concurrency 2] [--payload 64]
 *     [--keep-logs DIR] [--json FILE]
 * --duration in seconds; --rate new connections per second once N are held; --keep-logs keeps both proxies'
 * access logs (client.log, server.log) in DIR.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { numericFlag, requireRoot } from './script-flags';
import { Lab } from '../src/netns/lab';
import { runChurnLoad, type LoadResult, type PodResult } from '../test/support/load-scenario';

const USAGE = 'usage: soak-load [--duration S] [--connections N] [--rate R] [--concurrency W] [--payload B] [--keep-logs DIR] [--json FILE]';

const number = (name: string, text: string, min: number, max: number): number => numericFlag('soak-load', USAGE, name, text, min, max);

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function podLines(r: PodResult, connections: number): string[] {
  const sum = (s: PodResult['before'], k: 'socket' | 'pipe' | 'other'): number => r.workers.reduce((n, w) => n + (s.fds[w]?.[k] ?? 0), 0);
  const perConn = r.peak.active > 0 ? (r.peak.rssBytes - r.before.rssBytes) / r.peak.active : 0;
  return [
    `${r.pod} proxy (${r.workers.length} workers):`,
    `  downstream connections: peak ${r.peak.active} of ${connections}; after ${r.after.active}; upstream after ${r.upstreamActiveAfter}; relays after ${r.relaysAfter}`,
    `  socket fds: ${sum(r.before, 'socket')} → peak ${sum(r.peak, 'socket')} → ${sum(r.after, 'socket')}; per worker after: ${r.workers.map((w) => `${w}=${r.after.fds[w]?.socket}`).join(' ')} (before: ${r.workers.map((w) => `${w}=${r.before.fds[w]?.socket}`).join(' ')})`,
    `  pipe fds: ${sum(r.before, 'pipe')} → ${sum(r.after, 'pipe')} (relay pipes pooled ${r.pooledPipesBefore} → ${r.pooledPipesAfter}); other fds ${sum(r.before, 'other')} → ${sum(r.after, 'other')}`,
    `  RSS (supervisor + workers): ${mib(r.before.rssBytes)} → peak ${mib(r.peak.rssBytes)} → ${mib(r.after.rssBytes)}; ${(perConn / 1024).toFixed(1)} KiB per connection at the peak`,
    `  V8 heap in use (supervisor + workers): ${mib(r.before.heapUsedBytes)} → peak ${mib(r.peak.heapUsedBytes)} → ${mib(r.after.heapUsedBytes)}`,
    `  nf_conntrack_count ${r.conntrack}; worker restarts ${r.restarts}; TCP in the pod: ${JSON.stringify(r.tcpCounters)}`,
    `  access log: ${r.accessLog.entries} entries, not a clean close: ${JSON.stringify(r.accessLog.unclean)}`,
    `  failure counters: ${JSON.stringify(r.failureCounters)}`,
  ];
}

/** What is wrong with the result; empty when the run passed. */
function problems(r: LoadResult): string[] {
  const s = r.summary;
  const out: string[] = [];
  if (s.failed > 0) out.push(`${s.failed} connections failed: ${JSON.stringify(s.errors)}`);
  if (s.peakEstablished !== r.options.connections) out.push(`held at most ${s.peakEstablished} of ${r.options.connections}`);
  for (const p of [r.client, r.server]) {
    if (p.after.active !== 0 || p.upstreamActiveAfter !== 0 || p.relaysAfter !== 0) out.push(`${p.pod} proxy did not return to rest`);
    for (const w of p.workers) if (p.after.fds[w]?.socket !== p.before.fds[w]?.socket) out.push(`${p.pod} worker ${w} socket fds ${p.before.fds[w]?.socket} → ${p.after.fds[w]?.socket}`);
    if (p.conntrack !== 0) out.push(`${p.pod} nf_conntrack_count ${p.conntrack}`);
    if (p.restarts !== 0) out.push(`${p.pod} workers restarted ${p.restarts} times`);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '600' },
      connections: { type: 'string', default: '5000' },
      rate: { type: 'string', default: '250' },
      concurrency: { type: 'string', default: '2' },
      payload: { type: 'string', default: '64' },
      'keep-logs': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  requireRoot('soak-load', 'it creates network namespaces');
  const options = {
    durationMs: number('duration', values.duration, 1, 86_400) * 1000,
    connections: number('connections', values.connections, 1, 60_000),
    rate: number('rate', values.rate, 0, 20_000),
    concurrency: number('concurrency', values.concurrency, 1, 64),
    payload: number('payload', values.payload, 1, 1 << 20),
    progress: (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  };
  const keep = values['keep-logs'];
  if (keep !== undefined) mkdirSync(keep, { recursive: true });
  process.stderr.write(`soak-load: ${options.connections} connections, ${options.rate}/s churn, ${options.durationMs / 1000} s, --concurrency ${options.concurrency}\n`);
  const lab = await Lab.create({ prefix: 'soak' });
  let result: LoadResult;
  try {
    result = await runChurnLoad(lab, { ...options, ...(keep !== undefined ? { logDir: keep } : {}) });
  } finally {
    await lab.destroy();
  }
  const s = result.summary;
  const lines = [
    `clients: opened ${s.opened}, ok ${s.ok}, failed ${s.failed} ${JSON.stringify(s.errors)}; ${s.exchanges} exchanges; held at most ${s.peakEstablished}; longest connect (to the first byte from the app) ${s.maxConnectMs} ms; ${s.connectionsPerSecond} connections/s over ${(s.elapsedMs / 1000).toFixed(0)} s; the app saw ${JSON.stringify(s.peers)}`,
    ...podLines(result.client, options.connections),
    ...podLines(result.server, options.connections),
  ];
  const bad = problems(result);
  lines.push(bad.length === 0 ? 'PASS: no failed connection, both proxies back to rest, conntrack 0' : `FAIL:\n  ${bad.join('\n  ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`soak-load: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
