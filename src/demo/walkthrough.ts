/**
 * The story the demo tells, step by step, on a running mesh: the traffic, then each view the seed explains with
 * `istioctl proxy-config` (capture rules, the inbound listener, the outbound route, cluster and endpoints), the
 * split actually observed, key metrics and conntrack. Every number printed is read from the pods at that moment;
 * every view is the output of the `sidelane` command shown above it.
 */
import path from 'node:path';
import { SidelaneError } from '../errors';
import type { InstalledRule, CaptureView } from '../capture/inspection';
import type { DemoMesh, MeshPod } from './demo-mesh';
import type { DemoSummary, SplitSummary } from './demo-summary';
import { selects } from './kube-manifest';
import type { ConfigInput } from './mesh-config';
import { clusterStatuses, conntrack, httpGet, type ConntrackReading } from './pod-probe';
import { parsePrometheusText, sumBy, type Sample } from './prometheus-text';
import { selectColumns, type Report } from './report';
import { judge, type RequestOutcome } from './traffic-client';
import { binomialTolerance, countVersions, expectedShares, percentile } from './traffic-split';

export const STEPS = 9;
const PRODUCT_URL = 'http://productpage:9080/api/v1/products/0';

export interface TrafficOptions {
  readonly requests: number;
  readonly jasonRequests: number;
  readonly concurrency: number;
}

type Routes = NonNullable<ConfigInput['routes']>;
type Summary = Omit<DemoSummary, 'version' | 'ok' | 'problems' | 'mesh' | 'timings' | 'kept' | 'leftBehind'>;

/** Runs the tasks at most `n` at a time; results in order. */
export async function inBatches<T>(n: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}

export class Walkthrough {
  private readonly reviewsHost: string;
  private readonly ratingsHost: string;

  constructor(
    private readonly mesh: DemoMesh,
    private readonly report: Report,
    private readonly routes: Routes,
    /** How the reader runs sidelane (`sidelane` when on PATH, else `node …/main.js`). */
    private readonly sidelane: string,
  ) {
    this.reviewsHost = this.serviceOf('reviews');
    this.ratingsHost = this.serviceOf('ratings');
  }

  /** The FQDN of the Service that selects the pods running `role`. */
  private serviceOf(role: string): string {
    const labels = this.mesh.podFor(role).plan.deployment!.labels;
    const s = this.mesh.plan.services.find((x) => selects(x.service.selector, labels));
    if (!s) throw new SidelaneError('SIDELANE_ERR_DEMO', `no Service selects the ${role} pods`);
    return s.fqdn;
  }

  private shown(pod: MeshPod, args: readonly string[]): string {
    const quoted = args.map((a) => (/^[\w./:=-]+$/.test(a) ? a : `"${a}"`)).join(' ');
    return `ip netns exec ${pod.pod.netns} ${this.sidelane} ${quoted}`;
  }

  private async view(pod: MeshPod, args: readonly string[]): Promise<string> {
    const r = await this.mesh.cli(pod.plan.name, args, { allowFailure: true });
    if (r.code !== 0) return `(exit ${r.code}) ${r.stderr.trim()}`;
    return r.stdout;
  }

  /** Step 1: what was built, from what. */
  describeMesh(setupMs: number): void {
    const { report, mesh } = this;
    report.step(1, STEPS, 'The mesh: Istio\'s bookinfo, one network namespace per pod');
    const files = mesh.files.manifests.map((m) => path.relative(process.cwd(), m) || m);
    report.para(
      `Generated from ${files.join(' and ')} — Kubernetes Services and Deployments and an Istio VirtualService, ` +
        'turned into sidelane configuration as istiod would turn them into Envoy configuration: each Service becomes a ' +
        'service with a VIP in 198.19.0.0/16 and the pods it selects as endpoints (with their labels), the pods\' ' +
        '`version` labels become subsets, and the VirtualService becomes routes.',
    );
    const vipOf = (p: MeshPod): string =>
      mesh.plan.services.filter((s) => p.plan.deployment && selects(s.service.selector, p.plan.deployment.labels)).map((s) => `${s.service.name} ${s.vip}`).join(', ') || '-';
    report.table(
      ['POD', 'ADDRESS', 'RUNS', 'SERVICE VIP'],
      [...mesh.pods.values()].map((p) => [p.plan.name, p.plan.ipv4, p.plan.app ? `${p.plan.app.role} ${p.plan.app.version}` : 'the browser (requests only)', vipOf(p)]),
    );
    report.line();
    report.para(
      'Each pod runs what a Kubernetes pod with sidelane injected runs: `sidelane init` (the init container: capture ' +
        'rules), `sidelane run --config <pod>.yaml` (the sidecar) and the app, started with `sidelane exec` so its ' +
        `outbound connections go through the connect() hook. Configs and logs: ${mesh.dir}. Ready in ${(setupMs / 1000).toFixed(1)} s.`,
    );
  }

  /** Step 2: the requests, through every sidecar on the path. */
  async sendTraffic(o: TrafficOptions): Promise<{ outcomes: RequestOutcome[]; jason: RequestOutcome[]; fallback: RequestOutcome & { client: string }; ms: number }> {
    const { report, mesh } = this;
    const client = mesh.pod(mesh.plan.client.name);
    report.step(2, STEPS, 'Traffic: the browser asks productpage for the book');
    const t0 = Date.now();
    const outcomes = await this.load(client, o.requests, o.concurrency, null);
    const jason = await this.load(client, o.jasonRequests, o.concurrency, 'jason');
    // A client without the hook: the pod's TPROXY fallback (mangle OUTPUT) captures its connection instead.
    const plain = await httpGet(client.pod, PRODUCT_URL, 10_000);
    const fallback = { ...judge(plain.status, plain.body, null, plain.ms), client: 'node fetch, no hook' };
    const ms = Date.now() - t0;
    report.para(
      `From the client pod, ${o.requests} requests to ${PRODUCT_URL} and ${o.jasonRequests} more signed in as jason ` +
        `(productpage passes the user on as the \`end-user\` header), ${o.concurrency} keep-alive connections, through ` +
        '`sidelane exec` (the hook). The path of one request:',
    );
    report.block(
      [
        'client ──hook──▶ client sidecar :15001 ──TPROXY──▶ productpage sidecar :15006 ──▶ productpage app',
        'productpage app ──hook──▶ its sidecar :15001 ──TPROXY──▶ details sidecar :15006 ──▶ details app',
        '                                             └──TPROXY──▶ reviews-v1|v2|v3 sidecar :15006 ──▶ reviews app',
        'reviews v2|v3 app ──hook──▶ its sidecar :15001 ──TPROXY──▶ ratings sidecar :15006 ──▶ ratings app',
      ].join('\n'),
    );
    const all = [...outcomes, ...jason];
    const ok = all.filter((x) => x.ok).length;
    const ms50 = percentile(all.map((x) => x.ms), 50).toFixed(1);
    const ms99 = percentile(all.map((x) => x.ms), 99).toFixed(1);
    report.line();
    report.para(
      `${ok}/${all.length} requests succeeded (every answer had details, reviews and — from v2/v3 — ratings); latency ` +
        `p50 ${ms50} ms, p99 ${ms99} ms (seven sidecars, six apps and the client share this machine's cores).`,
    );
    const failures = all.filter((x) => !x.ok);
    for (const f of failures.slice(0, 5)) report.para(`  - failed: ${f.error ?? f.status}`);
    report.para(
      `One more request from a plain process without the hook (Node's fetch): ${fallback.ok ? `answered ${fallback.status} by reviews ${fallback.version}` : `FAILED: ${fallback.error}`} — ` +
        'captured by the TPROXY fallback, for binaries the hook cannot reach (static, setuid, raw syscalls).',
    );
    return { outcomes, jason, fallback, ms };
  }

  private async load(client: MeshPod, n: number, concurrency: number, user: string | null): Promise<RequestOutcome[]> {
    if (n === 0) return [];
    const args = ['exec', '--', process.execPath, this.mesh.files.trafficClient, PRODUCT_URL, String(n), String(concurrency), ...(user ? [user] : [])];
    const r = await this.mesh.cli(client.plan.name, args, { timeoutMs: 120_000, allowFailure: true });
    try {
      return (JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { results: RequestOutcome[] }).results;
    } catch {
      const error = `the traffic client failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`;
      return Array.from({ length: n }, () => ({ user, ok: false, status: 0, version: null, ratings: false, ms: 0, error }));
    }
  }

  /** Steps 3 to 9 read the pods; the reads run concurrently, then print in order. */
  async explain(traffic: { outcomes: RequestOutcome[]; jason: RequestOutcome[] }): Promise<Pick<Summary, 'split' | 'jason' | 'metrics' | 'conntrack' | 'conntrackLoaded'>> {
    const { mesh } = this;
    const productpage = mesh.podFor('productpage');
    const caller = mesh.podFor('reviews', 'v3');
    const ratingsHost = this.ratingsHost;
    const ratingsCluster = `outbound|9080||${ratingsHost}`;
    const views = {
      capture: ['capture', 'show', '-o', 'json'],
      listeners: ['proxy-config', 'listeners', '--port', '15006'],
      routes: ['proxy-config', 'routes', '--name', '9080'],
      ratingsClusters: ['proxy-config', 'clusters', '--fqdn', ratingsHost],
      ratingsEndpoints: ['proxy-config', 'endpoints', '--cluster', ratingsCluster],
      reviewsClusters: ['proxy-config', 'clusters', '--fqdn', this.reviewsHost],
    } as const;
    // A few at a time: each view is a Node process starting up, and the sidecars share the same cores.
    const [capture, listeners, routes, ratingsClusters, ratingsEndpoints, reviewsClusters] = await inBatches(3, [
      () => this.view(productpage, views.capture),
      () => this.view(productpage, views.listeners),
      () => this.view(caller, views.routes),
      () => this.view(caller, views.ratingsClusters),
      () => this.view(caller, views.ratingsEndpoints),
      () => this.view(productpage, views.reviewsClusters),
    ]);
    const counted = await this.sidecarCounted(productpage);
    const metrics = await this.readMetrics();
    // Last, after every other probe: conntrack in every pod.
    const readings = new Map<string, ConntrackReading>(await Promise.all([...mesh.pods.values()].map(async (p) => [p.plan.name, await conntrack(p.pod)] as const)));

    this.showCapture(productpage, views.capture, capture);
    this.showInbound(productpage, views.listeners, listeners);
    this.showRoute(caller, views.routes, routes, ratingsHost);
    this.showCluster(caller, productpage, views, { ratingsClusters, ratingsEndpoints, reviewsClusters });
    const split = this.split(traffic.outcomes, {}, counted);
    const jason = this.split(traffic.jason, { 'end-user': 'jason' }, {});
    this.showSplit(split, jason);
    this.showMetrics(metrics);
    const conntrackCounts = this.showConntrack(readings, metrics);
    return { split, jason, metrics: { source: metrics.source, counters: metrics.counters }, conntrack: conntrackCounts, conntrackLoaded: [...readings.values()].every((r) => r.loaded) };
  }

  private showCapture(pod: MeshPod, args: readonly string[], output: string): void {
    const { report } = this;
    report.step(3, STEPS, `Capture: the rules sidelane init installed (pod ${pod.plan.name})`);
    report.para(
      'Where Istio\'s istio-init writes nat-table REDIRECT rules (one conntrack entry per connection), sidelane init ' +
        'writes mangle-table TPROXY rules and a policy route, and marks the flows it captures notrack. Every rule ' +
        'carries its reason; the counters show the traffic of step 2.',
    );
    let view: CaptureView;
    try {
      view = JSON.parse(output) as CaptureView;
    } catch {
      report.command(this.shown(pod, args), output);
      return;
    }
    const short = (r: InstalledRule): string => `${r.table}/${r.chain}`;
    const mangle = view.rules.filter((r) => r.table.includes('mangle') && !/nfproto ipv6 return/.test(r.rule));
    const raw = view.rules.filter((r) => r.table.includes('raw'));
    report.command(this.shown(pod, args.slice(0, 2)));
    report.table(
      ['PKTS', 'CHAIN', 'WHY'],
      mangle.map((r) => [String(r.packets), short(r), r.reason]),
    );
    report.line();
    report.block(`+ ${raw.length} raw-table rules that mark the same flows notrack (${raw.reduce((s, r) => s + (/notrack/.test(r.rule) ? r.packets : 0), 0)} packets so far)`);
    report.block(`policy routes: ${view.routes.join('; ')}`);
    report.line();
    report.para(
      'Inbound: a new connection to the pod is diverted by TPROXY to the sidecar\'s transparent listener :15006 — ' +
        'the packet is not rewritten, so the accepted socket\'s local address *is* the original destination. ' +
        'Outbound: the app\'s connect() is redirected by the hook (it never reaches these rules: loopback is never ' +
        'captured); a client without the hook is marked in OUTPUT and routed over lo to :15001. The proxy\'s own ' +
        'sockets carry the bypass mark 0x53a and are never captured.',
    );
  }

  private showInbound(pod: MeshPod, args: readonly string[], output: string): void {
    const { report } = this;
    report.step(4, STEPS, `The inbound listener on 15006 (pod ${pod.plan.name})`);
    report.para(
      'Every connection TPROXY captured arrives here. Its original destination port picks the filter chain: 9080 is ' +
        'the pod\'s HTTP port (from the Service), so requests go through the HTTP connection manager and the route ' +
        '`inbound|9080||` to the local app; any other port is passed through as TCP.',
    );
    report.command(this.shown(pod, args), output);
  }

  private showRoute(pod: MeshPod, args: readonly string[], output: string, ratingsHost: string): void {
    const { report } = this;
    report.step(5, STEPS, `The outbound route for ${ratingsHost}:9080 (pod ${pod.plan.name})`);
    report.para(
      'reviews v3 calls http://ratings:9080/. The hook hands the connection to the sidecar on :15001 with its ' +
        'original destination (the ratings VIP) in a PROXY v2 header; port 9080 is HTTP, so each request is routed by ' +
        'its Host through the route configuration named "9080": the virtual host of ratings sends it to the cluster ' +
        '`outbound|9080||ratings…`. The same table holds the reviews rules from the VirtualService — jason to v2, ' +
        'everyone else 50/50 to v1 and v3 — which productpage\'s sidecar applies.',
    );
    const keep = (line: string): boolean => line.includes(ratingsHost.split('.')[0]!) || line.includes(this.reviewsHost.split('.')[0]!);
    report.command(`${this.shown(pod, args)}     # rows for ratings and reviews; DOMAINS left out`);
    report.block(output.startsWith('(exit') ? output : selectColumns(output, ['NAME', 'VHOST NAME', 'MATCH', 'DESTINATION', 'FROM'], keep));
  }

  private showCluster(
    caller: MeshPod,
    productpage: MeshPod,
    views: { ratingsClusters: readonly string[]; ratingsEndpoints: readonly string[]; reviewsClusters: readonly string[] },
    out: { ratingsClusters: string; ratingsEndpoints: string; reviewsClusters: string },
  ): void {
    const { report } = this;
    report.step(6, STEPS, 'The cluster and its endpoints');
    report.para(
      'A cluster is a service port (and subset) with its load balancer; its endpoints are the pods the Service ' +
        'selects. Names follow Istio: outbound|<port>|<subset>|<host>. The proxy connects to the endpoint chosen with ' +
        'the bypass mark; the ratings pod\'s TPROXY rule captures that connection inbound.',
    );
    report.command(this.shown(caller, views.ratingsClusters), out.ratingsClusters);
    report.command(this.shown(caller, views.ratingsEndpoints), out.ratingsEndpoints);
    report.line();
    report.para('The reviews subsets v1/v2/v3 come from the Deployments\' version labels, one cluster each:');
    report.command(this.shown(productpage, views.reviewsClusters), out.reviewsClusters);
  }

  private async sidecarCounted(productpage: MeshPod): Promise<Record<string, number>> {
    try {
      const clusters = await clusterStatuses(productpage.pod);
      const out: Record<string, number> = {};
      for (const c of clusters) {
        if (c.service === this.reviewsHost && c.subset !== undefined && c.direction === 'outbound') out[c.subset] = c.stats.upstream_rq_total ?? 0;
      }
      return out;
    } catch {
      return {};
    }
  }

  private split(outcomes: readonly RequestOutcome[], headers: Record<string, string>, sidecarCounted: Record<string, number>): SplitSummary {
    const expected = expectedShares(this.routes, this.reviewsHost, headers) ?? {};
    const observed = countVersions(outcomes);
    const n = outcomes.length;
    const tolerance: Record<string, number> = {};
    let within = outcomes.every((o) => o.version !== null);
    for (const v of new Set([...Object.keys(expected), ...Object.keys(observed)])) {
      const share = expected[v] ?? 0;
      tolerance[v] = binomialTolerance(n, share);
      if (Math.abs((observed[v] ?? 0) - (n * share) / 100) > tolerance[v]!) within = false;
    }
    return { requests: n, observed, expected, tolerance, withinTolerance: within, sidecarCounted };
  }

  private showSplit(split: SplitSummary, jason: SplitSummary): void {
    const { report } = this;
    report.step(7, STEPS, 'The weighted split, observed');
    report.para(
      'Which reviews version answered each request of step 2 (from productpage\'s JSON), next to what the route ' +
        'says and what productpage\'s sidecar counted per subset cluster (upstream_rq_total of outbound|9080|vN|reviews…).',
    );
    const versions = [...new Set([...Object.keys(split.expected), ...Object.keys(split.observed), ...Object.keys(jason.observed), 'v2'])].sort();
    const pct = (n: number, of: number): string => (of ? `${((100 * n) / of).toFixed(1)}%` : '-');
    report.table(
      ['VERSION', 'ROUTE WEIGHT', `OBSERVED (${split.requests} requests)`, `JASON (${jason.requests})`, 'PRODUCTPAGE SIDECAR COUNTED'],
      versions.map((v) => [
        v,
        `${(split.expected[v] ?? 0).toFixed(0)}%`,
        `${split.observed[v] ?? 0} (${pct(split.observed[v] ?? 0, split.requests)})`,
        String(jason.observed[v] ?? 0),
        String(split.sidecarCounted[v] ?? 0),
      ]),
    );
    report.line();
    const band = Object.entries(split.tolerance).filter(([v]) => (split.expected[v] ?? 0) > 0).map(([v, t]) => `${v} ±${t}`).join(', ');
    report.para(
      `${split.withinTolerance ? 'As configured' : 'NOT as configured'}: the split is random per request, so the counts ` +
        `vary around ${Object.entries(split.expected).map(([v, s]) => `${v} ${((split.requests * s) / 100).toFixed(0)}`).join(' / ')} ` +
        `(accepted band: ${band}, five standard deviations). jason: ${jason.withinTolerance ? 'every request reached v2' : 'NOT always v2'}. ` +
        'The sidecar\'s counts are all requests it sent to each subset: the observed ones, jason\'s and the fallback request of step 2.',
    );
  }

  private async readMetrics(): Promise<{ source: 'prometheus' | 'admin-clusters'; counters: DemoSummary['metrics']['counters']; samples: Map<string, Sample[]> }> {
    const pods = [...this.mesh.pods.values()];
    const texts = await inBatches(4, pods.map((p) => () => httpGet(p.pod, `http://${p.plan.ipv4}:15090/stats/prometheus`)));
    const counters: { pod: string; metric: string; labels: Record<string, string>; value: number }[] = [];
    const samples = new Map<string, Sample[]>();
    if (texts.every((t) => t.status === 200)) {
      pods.forEach((p, i) => samples.set(p.plan.name, parsePrometheusText(texts[i]!.body)));
      for (const p of pods) {
        const s = samples.get(p.plan.name)!;
        for (const x of sumBy(s, 'istio_requests_total', ['reporter', 'source_workload', 'destination_workload', 'destination_service', 'destination_version', 'response_code'])) {
          counters.push({ pod: p.plan.name, metric: x.name, labels: { ...x.labels }, value: x.value });
        }
        for (const x of sumBy(s, 'sidelane_capture_connections_total', ['direction', 'capture'])) {
          counters.push({ pod: p.plan.name, metric: x.name, labels: { ...x.labels }, value: x.value });
        }
      }
      return { source: 'prometheus', counters, samples };
    }
    // Without a metrics endpoint: the Envoy-style cluster counters of the admin API.
    const all = await Promise.all(pods.map(async (p) => [p, await clusterStatuses(p.pod).catch(() => [])] as const));
    for (const [p, clusters] of all) {
      for (const c of clusters) {
        const rq = c.stats.upstream_rq_total ?? 0;
        if (rq === 0) continue;
        counters.push({ pod: p.plan.name, metric: 'upstream_rq_total', labels: { cluster: c.name }, value: rq });
        counters.push({ pod: p.plan.name, metric: 'upstream_cx_total', labels: { cluster: c.name }, value: c.stats.upstream_cx_total ?? 0 });
      }
    }
    return { source: 'admin-clusters', counters, samples };
  }

  private showMetrics(m: Awaited<ReturnType<Walkthrough['readMetrics']>>): void {
    const { report, mesh } = this;
    report.step(8, STEPS, 'Key metrics');
    if (m.source === 'prometheus') {
      const pp = mesh.podFor('productpage');
      const ratings = mesh.podFor('ratings');
      const requests = (pod: string, reporter: string) =>
        m.counters.filter((c) => c.pod === pod && c.metric === 'istio_requests_total' && c.labels.reporter === reporter);
      report.para(
        "Every sidecar serves Istio's standard metrics on its pod address, port 15090 (never captured), with Istio's " +
          "labels. productpage's sidecar, reporting as the caller (reporter=\"source\"): the split once more, as a " +
          'dashboard would show it —',
      );
      report.command(`ip netns exec ${pp.pod.netns} curl -s http://${pp.plan.ipv4}:15090/stats/prometheus | grep '^istio_requests_total'     # summed`);
      report.table(
        ['SOURCE_WORKLOAD', 'DESTINATION_SERVICE', 'DESTINATION_VERSION', 'RESPONSE_CODE', 'REQUESTS'],
        requests(pp.plan.name, 'source').map((c) => [c.labels.source_workload ?? '', c.labels.destination_service ?? '', c.labels.destination_version ?? '', c.labels.response_code ?? '', String(c.value)]),
      );
      report.line();
      report.para("ratings' sidecar, reporting as the server (reporter=\"destination\"): who called ratings —");
      report.table(
        ['SOURCE_WORKLOAD', 'DESTINATION_WORKLOAD', 'RESPONSE_CODE', 'REQUESTS'],
        requests(ratings.plan.name, 'destination').map((c) => [c.labels.source_workload ?? '', c.labels.destination_workload ?? '', c.labels.response_code ?? '', String(c.value)]),
      );
      report.line();
      report.para('sidelane_capture_connections_total: how the connections reached each sidecar — the connect() hook, or TPROXY:');
      const cap = m.counters.filter((c) => c.metric === 'sidelane_capture_connections_total' && c.value > 0);
      report.table(['POD', 'DIRECTION', 'CAPTURED BY', 'CONNECTIONS'], cap.map((c) => [c.pod, c.labels.direction ?? '', c.labels.capture ?? '', String(c.value)]));
      return;
    }
    report.para(
      'This build serves no Prometheus endpoint on :15090; the sidecars\' Envoy-style cluster counters (admin API ' +
        '/clusters) tell the same story: requests (upstream_rq_total) and the connections opened for them ' +
        '(upstream_cx_total — keep-alive pools reuse a few connections for many requests).',
    );
    report.command(`ip netns exec <pod> curl -s http://127.0.0.1:15000/clusters`);
    const rows = m.counters
      .filter((c) => c.metric === 'upstream_rq_total')
      .map((c) => {
        const cx = m.counters.find((x) => x.metric === 'upstream_cx_total' && x.pod === c.pod && x.labels.cluster === c.labels.cluster);
        return [c.pod, c.labels.cluster ?? '', String(c.value), String(cx?.value ?? 0)];
      });
    report.table(['SIDECAR OF', 'CLUSTER', 'REQUESTS', 'CONNECTIONS'], rows);
  }

  private showConntrack(readings: ReadonlyMap<string, ConntrackReading>, m: DemoSummary['metrics']): Record<string, number> {
    const { report } = this;
    report.step(9, STEPS, 'conntrack: nf_conntrack_count in every pod');
    const loaded = [...readings.values()].every((r) => r.loaded);
    const connections = m.counters.filter((c) => c.metric === (m.source === 'prometheus' ? 'sidelane_capture_connections_total' : 'upstream_cx_total')).reduce((s, c) => s + c.value, 0);
    report.table(
      ['POD', 'NF_CONNTRACK_COUNT'],
      [...readings.entries()].map(([pod, r]) => [pod, r.loaded ? String(r.count) : 'conntrack not loaded']),
    );
    report.line();
    const zero = [...readings.values()].every((r) => r.count === 0);
    report.para(
      (zero
        ? `Zero everywhere${connections ? `, after ${connections} connections through the sidecars` : ''}. `
        : 'NOT zero: some connection was tracked. ') +
        'None of sidelane\'s rules needs conntrack (no NAT, no --ctstate, no CONNMARK), and the captured flows are ' +
        'marked notrack, so the kernel keeps no state for them. Istio\'s REDIRECT capture keeps one entry per ' +
        'connection, and a full table drops packets (`nf_conntrack: table full`).' +
        (loaded ? '' : ' (conntrack is not loaded on this machine at all, so these zeros prove less.)'),
    );
    return Object.fromEntries([...readings.entries()].map(([pod, r]) => [pod, r.count]));
  }

  /** The footer of a kept mesh: what to run next, exactly. */
  explore(downCommand: string): void {
    const { report, mesh } = this;
    const pp = mesh.podFor('productpage');
    const client = mesh.pod(mesh.plan.client.name);
    const r3 = mesh.podFor('reviews', 'v3');
    const cli = this.sidelane;
    report.line();
    report.title('The mesh is still up (--keep). Explore it:');
    const lines = [
      `# the book page, as jason (through the client's sidecar)`,
      `ip netns exec ${client.pod.netns} ${cli} exec -- curl -s "http://productpage:9080/productpage?user=jason"`,
      `# the same without the hook: captured by the TPROXY fallback`,
      `ip netns exec ${client.pod.netns} curl -s http://productpage:9080/api/v1/products/0`,
      `# the views of step 3 to 6, in any pod (${[...mesh.pods.values()].map((p) => p.plan.name).join(', ')})`,
      `ip netns exec ${pp.pod.netns} ${cli} capture show`,
      `ip netns exec ${pp.pod.netns} ${cli} proxy-config listeners --port 15006`,
      `ip netns exec ${r3.pod.netns} ${cli} proxy-config routes --name 9080 -o json`,
      `ip netns exec ${r3.pod.netns} ${cli} proxy-config endpoints --cluster "outbound|9080||ratings.default.svc.cluster.local"`,
      `ip netns exec ${pp.pod.netns} curl -s http://127.0.0.1:15000/config_dump`,
      `ip netns exec ${pp.pod.netns} curl -s http://${pp.plan.ipv4}:15090/stats/prometheus`,
      `# change the routing: edit a pod's config, its sidecar reloads it`,
      `$EDITOR ${pp.configFile}`,
      `# logs`,
      `tail ${pp.sidecarLog} ${pp.appLog ?? ''}`.trimEnd(),
      `# remove the mesh (every namespace, process, hosts file and capture state)`,
      downCommand,
    ];
    report.block(lines.join('\n'));
  }
}

