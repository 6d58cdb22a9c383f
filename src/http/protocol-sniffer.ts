/**
 * Protocol detection for ports declared AUTO (Envoy's http_inspector): read the first bytes with a short deadline
 * and decide HTTP/1.x (a known method followed by a space) or anything else (TCP). Bytes read are handed back to be
 * replayed. A client that says nothing before the deadline is TCP — server-first protocols (MySQL, SMTP) still work,
 * only delayed by the deadline; ports declared TCP never wait at all.
 */
import http from 'node:http';
import type net from 'node:net';

export type SniffedProtocol = 'HTTP' | 'TCP';

export interface SniffResult {
  readonly protocol: SniffedProtocol;
  /** Every byte read so far (including the initial bytes), to replay to whoever handles the connection. */
  readonly data: Buffer | undefined;
  /** The client half-closed (FIN) while we waited: the handler must forward the FIN itself. */
  readonly ended: boolean;
  /** The client closed or failed while we waited. */
  readonly closed: boolean;
}

// HTTP/2's connection preface starts with "PRI * HTTP/2.0": not HTTP/1.x, proxied as opaque TCP.
const METHODS = http.METHODS.filter((m) => m !== 'PRI' && m !== 'CONNECT');
const MAX_METHOD = Math.max(...METHODS.map((m) => m.length));

/** HTTP, TCP, or undefined when more bytes are needed to tell. */
export function classify(data: Buffer): SniffedProtocol | undefined {
  const limit = Math.min(data.length, MAX_METHOD + 1);
  let i = 0;
  while (i < limit && data[i]! >= 0x41 && data[i]! <= 0x5a) i++; // A-Z
  if (i < data.length) {
    if (data[i] !== 0x20 || i === 0) return 'TCP';
    return METHODS.includes(data.toString('latin1', 0, i)) ? 'HTTP' : 'TCP';
  }
  // Only upper-case letters so far: HTTP only if they begin some method.
  if (i > MAX_METHOD) return 'TCP';
  const prefix = data.toString('latin1', 0, i);
  return METHODS.some((m) => m.startsWith(prefix)) ? undefined : 'TCP';
}

/** Reads from `socket` until the protocol is known or `timeoutMs` passes; leaves the socket paused. */
export function sniffProtocol(socket: net.Socket, initial: Buffer | undefined, timeoutMs: number): Promise<SniffResult> {
  if (initial && initial.length > 0) {
    const early = classify(initial);
    if (early !== undefined) {
      socket.pause();
      return Promise.resolve({ protocol: early, data: initial, ended: false, closed: false });
    }
  }
  return new Promise((resolve) => {
    let data = initial && initial.length > 0 ? initial : undefined;
    let done = false;
    const finish = (protocol: SniffedProtocol, ended: boolean, closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.pause();
      resolve({ protocol, data, ended, closed });
    };
    const onData = (chunk: Buffer): void => {
      data = data ? Buffer.concat([data, chunk]) : chunk;
      const p = classify(data);
      if (p !== undefined) finish(p, false, false);
    };
    // A FIN before the bytes were conclusive: whatever it is, it is not a complete HTTP request line.
    const onEnd = (): void => finish('TCP', true, false);
    const onClose = (): void => finish('TCP', false, true);
    const timer = setTimeout(() => finish('TCP', false, false), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onClose);
    socket.resume();
  });
}
