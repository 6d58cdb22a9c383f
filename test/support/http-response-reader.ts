/**
 * A strict reader of the HTTP/1.1 responses a client got on one connection (RFC 9112: status line, field lines,
 * Content-Length or chunked framing, no body for HEAD/1xx/204/304), for tests that must tell a well-formed answer
 * from garbage — the fuzz tests use it to check that whatever the proxy sends back is well-formed.
 */

export interface ParsedResponse {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  /** A final response (not 1xx). */
  readonly final: boolean;
}

export interface ResponseStream {
  readonly responses: readonly ParsedResponse[];
  /** Set when the bytes are not well-formed HTTP/1.1 responses (what was wrong, and where). */
  readonly error?: string;
  /** Bytes of a response not complete yet (only when the connection is still open). */
  readonly pending: number;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d) [\t\x20-\x7e\x80-\xff]*$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*$/;

function header(headers: readonly (readonly [string, string])[], name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/**
 * Reads responses from `bytes`. `methods[i]` is the method of the i-th request sent on the connection (a response
 * to HEAD has no body; responses beyond the list are taken as answers to a GET). `closed`: the connection has ended,
 * so a body delimited by the close is complete and a partial response is an error.
 */
export function readResponses(bytes: Buffer, methods: readonly string[], closed: boolean): ResponseStream {
  const responses: ParsedResponse[] = [];
  let at = 0;
  let finals = 0;
  const fail = (what: string): ResponseStream => ({ responses, error: `${what} (response ${responses.length + 1}, byte ${at})`, pending: 0 });
  const incomplete = (): ResponseStream => (closed ? fail('connection closed inside a response') : { responses, pending: bytes.length - at });
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) return incomplete();
    const lines = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) return fail(`bad status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const status = Number(m[1]);
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const f = FIELD_LINE.exec(line);
      if (!f) return fail(`bad field line ${JSON.stringify(line.slice(0, 80))}`);
      headers.push([f[1]!, f[2]!]);
    }
    let p = end + 4;
    const method = methods[finals] ?? 'GET';
    let body: Buffer = Buffer.alloc(0);
    const te = header(headers, 'transfer-encoding');
    const cl = header(headers, 'content-length');
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
      // no body
    } else if (te.length > 0) {
      if (cl.length > 0) return fail('both Transfer-Encoding and Content-Length');
      if (te.join(',').split(',').map((s) => s.trim().toLowerCase()).pop() !== 'chunked') return fail(`Transfer-Encoding ${te.join(',')} does not end in chunked`);
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', p, 'latin1');
        if (lineEnd < 0) return incomplete();
        const sizeText = bytes.subarray(p, lineEnd).toString('latin1').split(';')[0]!.trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return fail(`bad chunk size ${JSON.stringify(sizeText)}`);
        const size = Number.parseInt(sizeText, 16);
        p = lineEnd + 2;
        if (size === 0) {
          // Trailer section, then the empty line.
          for (;;) {
            const tEnd = bytes.indexOf('\r\n', p, 'latin1');
            if (tEnd < 0) return incomplete();
            const line = bytes.subarray(p, tEnd).toString('latin1');
            p = tEnd + 2;
            if (line === '') break;
            if (!FIELD_LINE.test(line)) return fail(`bad trailer line ${JSON.stringify(line.slice(0, 80))}`);
          }
          break;
        }
        if (bytes.length < p + size + 2) return incomplete();
        parts.push(bytes.subarray(p, p + size));
        if (bytes[p + size] !== 0x0d || bytes[p + size + 1] !== 0x0a) return fail('chunk data not followed by CRLF');
        p += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (cl.length > 0) {
      if (new Set(cl).size !== 1 || !/^\d{1,15}$/.test(cl[0]!)) return fail(`bad Content-Length ${cl.join(', ')}`);
      const n = Number(cl[0]);
      if (bytes.length < p + n) return incomplete();
      body = bytes.subarray(p, p + n);
      p += n;
    } else {
      // Delimited by the close (RFC 9112 6.3 rule 8).
      if (!closed) return { responses, pending: bytes.length - at };
      body = bytes.subarray(p);
      p = bytes.length;
    }
    const final = status >= 200;
    if (final) finals += 1;
    responses.push({ status, headers, body, final });
    at = p;
  }
  return { responses, pending: 0 };
}
