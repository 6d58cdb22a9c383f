/**
 * The admin HTTP server (Envoy's admin API, 127.0.0.1:15000 only): a small router where each feature registers its
 * endpoints (`/config_dump`, `/clusters`, later `/stats`, `/ready`, `/logging`…) with a help line; `/` lists them.
 * It is a Listener, so the sidecar starts and stops it with the others.
 */
import http from 'node:http';
import type net from 'node:net';
import { SidelaneError } from '../errors';

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: string;
}

export interface AdminResponse {
  readonly status?: number;
  readonly contentType?: string;
  readonly body: string | Buffer;
}

export type AdminHandler = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export interface AdminEndpoint {
  readonly help: string;
  /** Allowed methods (default GET; Envoy's mutating endpoints are POST). */
  readonly methods?: readonly string[];
  readonly handler: AdminHandler;
}

export interface AdminServerOptions {
  /** 0 = any free port (tests). */
  readonly port: number;
  /** Loopback only by default: the admin API can reconfigure and stop the proxy. */
  readonly host?: string;
}

export function json(value: unknown, status = 200): AdminResponse {
  return { status, contentType: 'application/json', body: `${JSON.stringify(value, null, 2)}\n` };
}

export function text(body: string, status = 200): AdminResponse {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}

export class AdminServer {
  private readonly endpoints = new Map<string, AdminEndpoint>();
  private fallback: AdminHandler | undefined;
  private server: http.Server | undefined;
  private boundPort = 0;

  constructor(readonly options: AdminServerOptions) {
    this.register('/', { help: 'this list of admin endpoints', handler: () => text(this.helpText()) });
    this.register('/help', { help: 'this list of admin endpoints', handler: () => text(this.helpText()) });
  }

  /** Adds an endpoint; registering the same path twice is a programming error. */
  register(path: string, endpoint: AdminEndpoint): void {
    if (this.endpoints.has(path) && path !== '/' && path !== '/help') {
      throw new SidelaneError('SIDELANE_ERR_ADMIN', `admin endpoint ${path} is registered twice`, { path });
    }
    this.endpoints.set(path, endpoint);
  }

  /** Answers paths no endpoint is registered for (the supervisor forwards them to its workers). */
  setFallback(handler: AdminHandler): void {
    this.fallback = handler;
  }

  /** Answers one request without HTTP (worker processes serve the supervisor this way). */
  async handle(req: AdminRequest): Promise<AdminResponse> {
    const endpoint = this.endpoints.get(req.path);
    if (!endpoint) {
      if (this.fallback) return this.fallback(req);
      return text(`invalid path: ${req.path}\n${this.helpText()}`, 404);
    }
    if (!(endpoint.methods ?? ['GET']).includes(req.method)) {
      return text(`${req.path} expects ${(endpoint.methods ?? ['GET']).join(' or ')}\n`, 405);
    }
    try {
      return await endpoint.handler(req);
    } catch (err) {
      return text(`${err instanceof Error ? err.message : String(err)}\n`, 500);
    }
  }

  get paths(): readonly string[] {
    return [...this.endpoints.keys()];
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  private helpText(): string {
    const width = Math.max(...[...this.endpoints.keys()].map((p) => p.length));
    return `admin commands are:\n${[...this.endpoints.entries()]
      .filter(([p]) => p !== '/help')
      .map(([p, e]) => `  ${p.padEnd(width)}  ${e.help}${e.methods && !e.methods.includes('GET') ? ` (${e.methods.join('/')})` : ''}`)
      .join('\n')}\n`;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const response = await this.handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body: Buffer.concat(chunks).toString() });
    const body = typeof response.body === 'string' ? Buffer.from(response.body) : response.body;
    res.writeHead(response.status ?? 200, { 'content-type': response.contentType ?? 'text/plain; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(body);
  }
}
