/**
 * The demo's "browser": runs inside the client pod (under `sidelane exec`, so its connections go through the
 * connect() hook and the pod's sidecar), asks productpage for the product N times with a few keep-alive
 * connections, and prints one JSON line: each request's outcome and which reviews version answered.
 */
import http from 'node:http';

export interface RequestOutcome {
  /** The signed-in user (the `end-user` header productpage propagates), or null. */
  readonly user: string | null;
  readonly ok: boolean;
  readonly status: number;
  /** The reviews version that answered (from productpage's JSON), when it did. */
  readonly version: string | null;
  /** Whether the reviews answer carried star ratings (v2/v3 call ratings). */
  readonly ratings: boolean;
  readonly ms: number;
  readonly error?: string;
}

interface Product {
  detailsStatus?: number;
  reviewsStatus?: number;
  reviews?: { version?: string; reviews?: { rating?: { stars?: number; error?: string } }[] };
}

/** Judges one productpage answer: everything bookinfo shows must have arrived, through every hop. */
export function judge(status: number, body: string, user: string | null, ms: number): RequestOutcome {
  const base = { user, status, ms: Math.round(ms * 100) / 100 };
  if (status !== 200) return { ...base, ok: false, version: null, ratings: false, error: `productpage answered ${status}: ${body.slice(0, 160)}` };
  let p: Product;
  try {
    p = JSON.parse(body) as Product;
  } catch {
    return { ...base, ok: false, version: null, ratings: false, error: `productpage answered no JSON: ${body.slice(0, 160)}` };
  }
  const version = p.reviews?.version ?? null;
  const stars = (p.reviews?.reviews ?? []).map((r) => r.rating);
  const ratings = stars.length > 0 && stars.every((r) => typeof r?.stars === 'number');
  const problems: string[] = [];
  if (p.detailsStatus !== 200) problems.push(`details answered ${p.detailsStatus}`);
  if (p.reviewsStatus !== 200 || version === null) problems.push(`reviews answered ${p.reviewsStatus}`);
  // v1 shows no stars; v2 and v3 must have reached ratings through both sidecars.
  if (version !== null && version !== 'v1' && !ratings) problems.push(`reviews ${version} had no ratings (${stars.find((r) => r?.error)?.error ?? 'missing'})`);
  return { ...base, ok: problems.length === 0, version, ratings, ...(problems.length ? { error: problems.join('; ') } : {}) };
}

export async function sendRequests(url: string, n: number, concurrency: number, user: string | null): Promise<RequestOutcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  if (user !== null) target.searchParams.set('user', user);
  const results: RequestOutcome[] = new Array(n);
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      const ms = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
      const req = http.get(target, { agent, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          results[i] = judge(res.statusCode ?? 0, Buffer.concat(chunks).toString(), user, ms());
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', (err) => {
        results[i] = { user, ok: false, status: 0, version: null, ratings: false, ms: ms(), error: err.message };
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  agent.destroy();
  return results;
}

/** `node traffic-client.js URL N CONCURRENCY [USER]` → one JSON line {results: [...]}. */
if (require.main === module) {
  const [url, n, c, user] = process.argv.slice(2);
  if (!url || !/^\d+$/.test(n ?? '') || !/^\d+$/.test(c ?? '')) {
    process.stderr.write('usage: traffic-client URL REQUESTS CONCURRENCY [USER]\n');
    process.exit(2);
  }
  void sendRequests(url, Number(n), Number(c), user ?? null).then((results) => process.stdout.write(`${JSON.stringify({ results })}\n`));
}
