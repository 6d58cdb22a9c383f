/**
 * Responses the proxy writes itself (Envoy's local replies): the status and the plain-text body Envoy users know —
 * "no healthy upstream", "upstream request timeout", "upstream connect error or disconnect/reset before headers…" —
 * so scripts and humans that grep for them keep working.
 */
import type { DownstreamResponse } from './downstream-response';

export const LOCAL_REPLY = {
  noRoute: { status: 404, body: '' },
  noHealthyUpstream: { status: 503, body: 'no healthy upstream' },
  noCluster: { status: 503, body: '' },
  timeout: { status: 504, body: 'upstream request timeout' },
  overflow: { status: 503, body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow' },
  connectionTermination: {
    status: 503,
    body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  },
  blackHole: { status: 502, body: '' },
} as const;

export function connectFailureBody(reason: string, retried: boolean): string {
  return `upstream connect error or disconnect/reset before headers. ${retried ? 'retried and the latest ' : ''}reset reason: connection failure, transport failure reason: ${reason}`;
}

/** Writes a complete local reply (text/plain), keeping the request id so the caller can correlate. */
export function writeLocalReply(res: DownstreamResponse, status: number, body: string, requestId: string | undefined, close: boolean): void {
  const headers: string[] = ['content-length', String(Buffer.byteLength(body))];
  if (body !== '') headers.push('content-type', 'text/plain');
  if (requestId !== undefined) headers.push('x-request-id', requestId);
  if (close) headers.push('connection', 'close');
  res.writeHead(status, headers);
  res.end(body);
}
