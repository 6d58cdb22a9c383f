#!/usr/bin/env node
/**
 * Bench (issue 3; not a timed test): N concurrent hooked connections from one pod through its sidecar — more than one
 * 127.0.0.1 → 127.0.0.1:15001 pair allows (its ephemeral port range, 28,232 ports by default), which is why the hook
 * spreads its loopback connections over 127.0.0.0/8. Several client processes (one process may hold at most 20,000
 * files), a proxy with several workers (each holds two fds per connection), and several server ports (each a process
 * of its own, and each a 4-tuple space of its own for the proxy's upstream connections). Every connection is checked
 * (peer line, an echo right after connecting and another before closing). Reports connections established, failures,
 * the time it took, proxy RSS and fds per worker, memory per connection and nf_conntrack_count.
 *   sudo npm run bench:hooked-connections -- [--connections 30000] [--clients 4] [--concurrency 4] [--ports 4]
 *     [--ramp-rate 2000] [--hold 10] [--json FILE]
 * --ramp-rate: new connections per second, all clients together; --hold: seconds to hold them all before closing.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { numericFlag, requireRoot } from './script-flags';
import { Lab } from '../src/netns/lab';
import { echoServer, init, startProxy } from '../test/support/mesh';
import { startChurn, type ChurnRun, type ChurnSummary } from '../test/support/load-scenario';
import { fdKinds, rssBytes, serverInfo, settle, stats, statSum, type FdKinds } from '../test/support/proxy-probe';

const USAGE = 'usage: hooked-connections [--connections N] [--clients C] [--concurrency W] [--ports P] [--ramp-rate R] [--hold S] [--json FILE]';

const number = (name: string, text: string, min: number, max: number): number => numericFlag('hooked-connections', USAGE, name, text, min, max, true);

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

interface Snapshot {
  readonly active: number;
  readonly workers: { pid: number; rss: number; fds: FdKinds }[];
  readonly supervisorRss: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '30000' },
      clients: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '4' },
      ports: { type: 'string', default: '4' },
      'ramp-rate': { type: 'string', default: '2000' },
      hold: { type: 'string', default: '10' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  requireRoot('hooked-connections', 'it creates network namespaces');
  const connections = number('connections', values.connections, 1, 200_000);
  const clients = number('clients', values.clients, 1, 64);
  const concurrency = number('concurrency', values.concurrency, 1, 64);
  const ports = number('ports', values.ports, 1, 64);
  const rampRate = number('ramp-rate', values['ramp-rate'], 1, 100_000);
  const holdS = number('hold', values.hold, 0, 3600);
  const perClient = Math.ceil(connections / clients);
  if (perClient > 18_000) process.stderr.write(`hooked-connections: warning: ${perClient} connections per client process is close to the 20,000-file limit; add --clients\n`);

  const lab = await Lab.create({ prefix: 'hookcx' });
  try {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    const serverPorts = Array.from({ length: ports }, (_, i) => 9000 + i);
    await Promise.all(serverPorts.map((p) => echoServer(server, [p])));
    // No access log: 2 × N lines at the end would measure pino, not the connections.
    const proxy = await startProxy(client, ['--concurrency', String(concurrency), '--access-log', 'off']);
    const info = await serverInfo(client);
    const workerPids = info.workers.map((w) => w.pid);
    const supervisor = proxy.process.pid ?? 0;
    const snapshot = async (): Promise<Snapshot> => ({
      active: statSum(await stats(client, 'downstream_cx_active'), /downstream_cx_active/),
      workers: workerPids.map((pid) => ({ pid, rss: rssBytes(pid), fds: fdKinds(pid) })),
      supervisorRss: rssBytes(supervisor),
    });
    const before = await snapshot();
    log(`proxy up: ${concurrency} workers, ${mib(before.workers.reduce((n, w) => n + w.rss, 0) + before.supervisorRss)} RSS; opening ${connections} hooked connections from ${clients} client processes to ${ports} server ports`);

    const started = Date.now();
    const runs: ChurnRun[] = [];
    for (let i = 0; i < clients; i++) {
      const n = Math.min(perClient, connections - i * perClient);
      if (n <= 0) break;
      runs.push(
        startChurn(client, [
          ...serverPorts.flatMap((p) => ['--target', `${server.ipv4}:${p}`]),
          '--connections', String(n),
          '--rate', '0',
          '--duration-ms', String(3_600_000),
          '--ramp-rate', String(Math.max(1, Math.round(rampRate / clients))),
          '--timeout-ms', '120000',
          '--expect-peer', client.ipv4,
        ]),
      );
    }
    // Established = the proxy holds them all (every client checked its first echo when its count goes up).
    let peak = before;
    const all = await settle(
      async () => {
        const s = await snapshot();
        if (s.active > peak.active) peak = s;
        log(`${s.active} connections through the proxy`);
        return s.active;
      },
      (n) => n >= connections,
      600_000,
      2000,
    );
    const establishedMs = Date.now() - started;
    if (all < connections) log(`only ${all} of ${connections} connections were established`);
    await new Promise((r) => setTimeout(r, holdS * 1000));
    const held = await snapshot();
    const conntrack = await client.conntrackCount();
    log(`held for ${holdS} s; closing (each connection echoes once more first)`);
    for (const r of runs) r.stop();
    const summaries: ChurnSummary[] = await Promise.all(runs.map((r) => r.done));
    const rest = await settle(snapshot, (s) => s.active === 0, 120_000, 1000);
    const conntrackAfter = await client.conntrackCount();

    const opened = summaries.reduce((n, s) => n + s.opened, 0);
    const ok = summaries.reduce((n, s) => n + s.ok, 0);
    const failed = summaries.reduce((n, s) => n + s.failed, 0);
    const errors: Record<string, number> = {};
    for (const s of summaries) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
    const peakEstablished = summaries.reduce((n, s) => n + s.peakEstablished, 0);
    // The workers hold the connections; the supervisor holds none (its RSS moves with its own garbage collection).
    const workersRss = (s: Snapshot): number => s.workers.reduce((n, w) => n + w.rss, 0);
    const perConnection = held.active > 0 ? (workersRss(held) - workersRss(before)) / held.active : 0;
    const lines = [
      `hooked connections: ${connections} asked, ${peakEstablished} held at once by ${runs.length} client processes, ${held.active} through the proxy; ${opened} opened, ${ok} checked to the end, ${failed} failed ${JSON.stringify(errors)}`,
      `established in ${(establishedMs / 1000).toFixed(1)} s (${Math.round(connections / (establishedMs / 1000))} connections/s); held ${holdS} s`,
      `proxy workers' RSS: ${mib(workersRss(before))} at rest → ${mib(workersRss(held))} holding → ${mib(workersRss(rest))} after: ${(perConnection / 1024).toFixed(2)} KiB per connection; supervisor ${mib(before.supervisorRss)} → ${mib(held.supervisorRss)}`,
      '| worker | RSS at rest | RSS holding | socket fds holding | pipe fds | other fds | socket fds after |',
      '|---|---|---|---|---|---|---|',
      ...held.workers.map((w, i) => `| ${w.pid} | ${mib(before.workers[i]!.rss)} | ${mib(w.rss)} | ${w.fds.socket} | ${w.fds.pipe} | ${w.fds.other} | ${rest.workers[i]!.fds.socket} (at rest before: ${before.workers[i]!.fds.socket}) |`),
      `nf_conntrack_count in the client pod: ${conntrack} while holding, ${conntrackAfter} after`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (values.json) {
      writeFileSync(values.json, `${JSON.stringify({ connections, clients: runs.length, concurrency, ports, establishedMs, holdS, opened, ok, failed, errors, peakEstablished, before, held, rest, conntrack, conntrackAfter, perConnectionBytes: perConnection }, null, 2)}\n`);
    }
    const good = failed === 0 && peakEstablished === connections && held.active >= connections && conntrack === 0 && rest.active === 0;
    process.exitCode = good ? 0 : 1;
  } finally {
    await lab.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`hooked-connections: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
