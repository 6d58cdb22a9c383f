/**
 * The request side of an upstream HTTP/1.1 exchange: what the proxy sends (method, path, headers, body) and the
 * request head rendered as one latin1 string, with the framing of the body (Content-Length or chunked) decided here.
 * Pure: the connection writes what this renders.
 */
import type { Readable } from 'node:stream';

/** A request for an upstream connection; headers are a flat [name, value, …] list as the client sent them. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  /** The whole body, none, or a stream (written with backpressure; chunked unless a Content-Length is given). */
  readonly body: Buffer | Readable | null;
}

/** How the body follows the head. */
export type BodyFraming = 'none' | 'length' | 'chunked';

export interface RequestHead {
  /** Request line and headers, ending with the empty line; written as latin1 (header bytes kept as received). */
  readonly head: string;
  readonly framing: BodyFraming;
  /** The Content-Length sent (framing 'length'), else -1. */
  readonly contentLength: number;
}

/**
 * Methods whose semantics anticipate a body: they get `Content-Length: 0` when they have none (RFC 9110 8.6),
 * others get no Content-Length at all — as undici did.
 */
function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

/**
 * Renders the head. `host` is the Host sent when the client gave none (an HTTP/1.0 client): the endpoint's
 * address. The client's Content-Length is replaced by the body's own length (a buffered body) or kept (a stream);
 * `close` asks the server to close after this response (the connection's last request).
 */
export function renderRequestHead(request: UpstreamRequest, host: string, close: boolean): RequestHead {
  const { method, headers, body } = request;
  let head = `${method} ${request.path} HTTP/1.1\r\n`;
  let hasHost = false;
  let declaredLength = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    // Only two names matter here; compare lengths first so most headers cost one integer comparison.
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const n = Number(headers[i + 1]);
      if (Number.isSafeInteger(n) && n >= 0) declaredLength = n;
      continue;
    }
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    head += `${name}: ${headers[i + 1]!}\r\n`;
  }
  if (!hasHost) head += `host: ${host}\r\n`;
  head += close ? 'connection: close\r\n' : 'connection: keep-alive\r\n';

  let framing: BodyFraming;
  let contentLength = -1;
  if (body === null || (Buffer.isBuffer(body) && body.length === 0)) {
    framing = 'none';
    if (expectsPayload(method)) {
      contentLength = 0;
      head += 'content-length: 0\r\n';
    }
  } else if (Buffer.isBuffer(body)) {
    framing = 'length';
    contentLength = body.length;
    head += `content-length: ${contentLength}\r\n`;
  } else if (declaredLength >= 0) {
    framing = 'length';
    contentLength = declaredLength;
    head += `content-length: ${contentLength}\r\n`;
  } else {
    framing = 'chunked';
    head += 'transfer-encoding: chunked\r\n';
  }
  return { head: head + '\r\n', framing, contentLength };
}
