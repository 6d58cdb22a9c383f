/**
 * Header handling between downstream and upstream, as an Istio sidecar's Envoy does it: hop-by-hop headers are
 * connection-scoped and never forwarded (RFC 9110 §7.6.1), `x-request-id` is generated when absent,
 * `x-forwarded-proto` is set when absent, and `x-forwarded-for` is left as the client sent it — sidecars run with
 * use_remote_address=false, so they do not append the peer (with TPROXY and source preservation the application sees
 * the real client address on the socket instead).
 */
import { randomUUID } from 'node:crypto';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect']);
/** HOP_BY_HOP_LENGTH[n]: some hop-by-hop name has n characters (most names are ruled out without lower-casing). */
const HOP_BY_HOP_LENGTH: readonly boolean[] = Array.from({ length: 32 }, (_, n) => [...HOP_BY_HOP].some((h) => h.length === n));

/** Whether a header line is hop-by-hop: a standard one, or one the Connection header names (`extra`). */
function isHopByHop(name: string, extra: Set<string> | undefined): boolean {
  if (extra === undefined && HOP_BY_HOP_LENGTH[name.length] !== true) return false;
  const lower = name.toLowerCase();
  return HOP_BY_HOP.has(lower) || (extra !== undefined && extra.has(lower));
}

/** Extra headers named by `Connection: a, b` (also hop-by-hop), lower case; undefined when there are none. */
function connectionTokens(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  // The usual values name no other header: no split, no set.
  if (connection.length <= 10 && /^(?:keep-alive|close)$/i.test(connection)) return undefined;
  let out: Set<string> | undefined;
  for (const t of connection.split(',')) {
    const token = t.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    (out ??= new Set()).add(token);
  }
  return out;
}

/**
 * The request headers to send upstream (a flat [name, value, …] list, order and duplicates kept). Adds the request
 * id and x-forwarded-proto when the client did not send them.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  connection: string | undefined,
  requestId: string,
  addRequestId: boolean,
  addForwardedProto: boolean,
): string[] {
  const extra = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHopByHop(name, extra)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (addRequestId) out.push('x-request-id', requestId);
  if (addForwardedProto) out.push('x-forwarded-proto', 'http');
  return out;
}

/** The response headers to send downstream: upstream's (a flat [name, value, …] list) minus hop-by-hop ones. */
export function downstreamResponseHeaders(raw: readonly string[]): string[] {
  let extra: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') extra = connectionTokens(raw[i + 1]);
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isHopByHop(name, extra)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

export function newRequestId(): string {
  return randomUUID();
}
