#!/usr/bin/env node
/**
 * Micro-benchmark of the HTTP routing core (a benchmark, not a test): keep-alive GETs over loopback, directly to an
 * upstream and through the outbound router + HTTP connection manager (route match, weighted subset, pooled upstream),
 * one process, the plain connector. Measures requests/s and latency percentiles; the ratio is the headline.
 *   node dist/scripts/bench-http-routing.js [--seconds S] [--concurrency C] [--rounds R]
 */
import http from 'node:http';
import { startHarness, startUpstream } from '../test/support/routing';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Result {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

async function drive(port: number, host: string, seconds: number, concurrency: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/reviews/0', headers: { host }, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          })
          .on('error', reject);
      });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / seconds,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

async function main(): Promise<void> {
  const seconds = arg('--seconds', 3);
  const concurrency = arg('--concurrency', 16);
  const rounds = arg('--rounds', 3);
  const body = JSON.stringify({ id: '0', reviews: [{ reviewer: 'Reviewer1', text: 'x'.repeat(200) }] });
  const ups = await Promise.all(['v1', 'v3'].map(() => startUpstream((_q, s) => s.end(body))));
  const h = await startHarness(
    `services:
  - host: reviews.default.svc.cluster.local
    addresses: [198.19.0.12]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints:
${ups.map((u, i) => `      - {address: 127.0.0.1, port: ${u.port}, labels: {version: v${i * 2 + 1}}}`).join('\n')}
    subsets: [{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v3}}]
routes:
  - host: reviews.default.svc.cluster.local
    http:
      - match: [{headers: {end-user: {exact: jason}}}]
        route: [{subset: v1}]
      - route: [{subset: v1, weight: 50}, {subset: v3, weight: 50}]
`,
    { dst: { address: '198.19.0.12', port: 9080 } },
  );
  const rows: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const direct = await drive(ups[0]!.port, 'reviews', seconds, concurrency);
    const proxied = await drive(h.port, 'reviews:9080', seconds, concurrency);
    rows.push(
      `| ${r + 1} | ${direct.rps.toFixed(0)} | ${direct.p50.toFixed(2)} / ${direct.p99.toFixed(2)} | ${proxied.rps.toFixed(0)} | ${proxied.p50.toFixed(2)} / ${proxied.p99.toFixed(2)} | ${(proxied.rps / direct.rps).toFixed(2)} |`,
    );
  }
  process.stdout.write(
    `keep-alive GET, ${concurrency} concurrent, ${seconds}s per run, client + proxy + upstream in one process\n\n` +
      '| round | direct req/s | direct p50/p99 ms | via sidelane req/s | via p50/p99 ms | ratio |\n|---|---|---|---|---|---|\n' +
      `${rows.join('\n')}\n`,
  );
  await h.close();
  await Promise.all(ups.map((u) => u.close()));
}

void main();
