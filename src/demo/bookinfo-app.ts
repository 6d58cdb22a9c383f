/**
 * The demo's workloads: small HTTP apps that speak bookinfo's JSON/HTML (productpage → details, reviews →
 * ratings), one process per pod, selected by role and version. They know nothing of the mesh: they call their
 * peers by service name on port 9080, and sidelane captures and routes those calls.
 */
import http from 'node:http';
import os from 'node:os';

export type Role = 'productpage' | 'details' | 'reviews' | 'ratings';

export interface AppOptions {
  readonly role: Role;
  readonly version: string;
  readonly port: number;
  /** Host names of the peers (default: the short service names, resolved through the pod's /etc/hosts). */
  readonly detailsHost?: string;
  readonly reviewsHost?: string;
  readonly ratingsHost?: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

// Headers bookinfo propagates from the incoming request to its outgoing calls (tracing and the test user).
const PROPAGATED = ['x-request-id', 'end-user', 'user-agent', 'traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled'];

function getJson(url: string, incoming: http.IncomingHttpHeaders): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  for (const h of PROPAGATED) {
    const v = incoming[h];
    if (typeof v === 'string') headers[h] = v;
  }
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep text (e.g. an Envoy-style error body)
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: { error: err.message } }));
  });
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body) : String(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const REVIEWERS = ['Reviewer1', 'Reviewer2'];
const REVIEW_TEXT = [
  'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
];

export function createApp(o: AppOptions): http.Server {
  const details = o.detailsHost ?? 'details';
  const reviews = o.reviewsHost ?? 'reviews';
  const ratings = o.ratingsHost ?? 'ratings';
  const podname = os.hostname();
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const id = url.pathname.split('/').pop() ?? '0';
    if (url.pathname === '/health') return send(res, 200, { status: `${o.role} is healthy` });
    switch (o.role) {
      case 'details':
        if (!url.pathname.startsWith('/details/')) return send(res, 404, { error: 'not found' });
        return send(res, 200, {
          id: Number(id), author: 'William Shakespeare', year: 1595, type: 'paperback', pages: 200,
          publisher: 'PublisherA', language: 'English', 'ISBN-10': '1234567890', 'ISBN-13': '123-1234567890',
        });
      case 'ratings':
        if (!url.pathname.startsWith('/ratings/')) return send(res, 404, { error: 'not found' });
        return send(res, 200, { id: Number(id), ratings: { Reviewer1: 5, Reviewer2: 4 } });
      case 'reviews': {
        if (!url.pathname.startsWith('/reviews/')) return send(res, 404, { error: 'not found' });
        const withRatings = o.version !== 'v1';
        const color = o.version === 'v3' ? 'red' : 'black';
        void (async () => {
          let stars: Record<string, number> | undefined;
          let ratingsStatus: number | undefined;
          if (withRatings) {
            const r = await getJson(`http://${ratings}:9080/ratings/${id}`, req.headers);
            ratingsStatus = r.status;
            stars = r.status === 200 ? (r.body as { ratings: Record<string, number> }).ratings : undefined;
          }
          send(res, 200, {
            id, podname, version: o.version, clustername: 'sidelane-demo',
            reviews: REVIEWERS.map((reviewer, i) => ({
              reviewer,
              text: REVIEW_TEXT[i],
              ...(withRatings
                ? { rating: stars ? { stars: stars[reviewer], color } : { error: `Ratings service is currently unavailable (${ratingsStatus})` } }
                : {}),
            })),
          });
        })();
        return;
      }
      case 'productpage': {
        const api = url.pathname.startsWith('/api/v1/products/');
        if (!api && url.pathname !== '/productpage') return send(res, 404, { error: 'not found' });
        const user = url.searchParams.get('user');
        const headers = { ...req.headers, ...(user ? { 'end-user': user } : {}) };
        void (async () => {
          const [d, r] = await Promise.all([
            getJson(`http://${details}:9080/details/0`, headers),
            getJson(`http://${reviews}:9080/reviews/0`, headers),
          ]);
          const product = { details: d.body, detailsStatus: d.status, reviews: r.body, reviewsStatus: r.status };
          if (api) return send(res, 200, product);
          const rv = r.body as { version?: string; reviews?: { reviewer: string; rating?: { stars?: number; color?: string } }[] };
          const html = `<!doctype html><html><head><title>Simple Bookstore App</title></head><body>
<h1>The Comedy of Errors</h1>${user ? `<p>signed in as ${user}</p>` : ''}
<h2>Book Details</h2><pre>${JSON.stringify(d.body)}</pre>
<h2>Book Reviews (reviews-${rv.version ?? 'unavailable'})</h2>
${(rv.reviews ?? []).map((x) => `<blockquote>${x.reviewer}${x.rating?.stars ? ` <font color="${x.rating.color}">${'★'.repeat(x.rating.stars)}</font>` : ''}</blockquote>`).join('\n')}
</body></html>`;
          return send(res, 200, html, 'text/html; charset=utf-8');
        })();
        return;
      }
    }
  });
}

/** Entry point: `node bookinfo-app.js <role> <version> [port]`. */
if (require.main === module) {
  const [role, version = 'v1', port = '9080'] = process.argv.slice(2);
  if (!role || !['productpage', 'details', 'reviews', 'ratings'].includes(role)) {
    process.stderr.write('usage: bookinfo-app <productpage|details|reviews|ratings> [version] [port]\n');
    process.exit(2);
  }
  const server = createApp({ role: role as Role, version, port: Number(port) });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(port), '::', () => process.stdout.write(`bookinfo ${role} ${version} listening on ${port}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
