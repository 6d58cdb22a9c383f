/**
 * Upstream connectors: open a TCP connection to an endpoint and hand back a net.Socket. The native connector
 * marks the socket (SO_MARK, so capture never re-captures the proxy) and can spoof the source address
 * (IP_TRANSPARENT + bind, for source preservation) from the very first SYN; the plain connector is Node's own.
 */
import net from 'node:net';
import { addon } from '../native/addon';
import { SidelaneError, SystemError } from '../errors';
import type { SocketAddress } from './address';
import { FD_EXHAUSTION_CODES, publishFdExhausted } from '../telemetry/events';

export interface ConnectRequest {
  readonly target: SocketAddress;
  /** Bind to this source address first (transparent when not local). */
  readonly source?: { readonly address: string; readonly port?: number };
  readonly transparent?: boolean;
  /** SO_MARK to set before the SYN (the bypass mark). */
  readonly mark?: number;
  readonly timeoutMs?: number;
  /** Abort the attempt (downstream went away). */
  readonly signal?: AbortSignal;
}

export interface Connector {
  connect(request: ConnectRequest): Promise<net.Socket>;
}

export class UpstreamConnectError extends SidelaneError {
  /** errno name (ECONNREFUSED, ETIMEDOUT, …) or ABORTED. */
  readonly reason: string;
  constructor(target: SocketAddress, reason: string, detail?: string) {
    super(
      reason === 'ETIMEDOUT' ? 'SIDELANE_ERR_UPSTREAM_TIMEOUT' : 'SIDELANE_ERR_UPSTREAM_CONNECT',
      `upstream connect to ${target.address}:${target.port} failed: ${reason}${detail ? ` (${detail})` : ''}`,
      { target: `${target.address}:${target.port}`, reason },
    );
    this.reason = reason;
  }
}

const EINPROGRESS = 115;
const ERRNO_NAMES: Record<number, string> = {
  110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH', 101: 'ENETUNREACH', 104: 'ECONNRESET',
  99: 'EADDRNOTAVAIL', 24: 'EMFILE', 23: 'ENFILE', 105: 'ENOBUFS', 1: 'EPERM', 13: 'EACCES',
};

interface Pending {
  resolve(fd: number): void;
  reject(errno: number): void;
}

/** Opens sockets through the native addon; completion arrives on the event loop, never blocking it. */
export class NativeConnector implements Connector {
  private readonly pending = new Map<number, Pending>();

  constructor() {
    addon().setConnectCallback((fd, errno) => {
      const p = this.pending.get(fd);
      if (!p) return;
      this.pending.delete(fd);
      if (errno === 0) p.resolve(fd);
      else p.reject(errno);
    });
  }

  connect(request: ConnectRequest): Promise<net.Socket> {
    return this.connectFd(request).then(
      (fd) => new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true }),
    );
  }

  /**
   * Connects and resolves with the raw, connected, non-blocking fd (the caller owns it) — for the native relay,
   * so a TCP-proxied connection never creates a net.Socket.
   */
  connectFd(request: ConnectRequest): Promise<number> {
    const { target } = request;
    return new Promise<number>((resolve, reject) => {
      if (request.signal?.aborted) {
        reject(new UpstreamConnectError(target, 'ABORTED'));
        return;
      }
      let start;
      try {
        start = addon().connect({
          family: target.family,
          address: target.address,
          port: target.port,
          ...(request.source ? { sourceAddress: request.source.address, sourcePort: request.source.port ?? 0 } : {}),
          transparent: request.transparent ?? false,
          mark: request.mark ?? 0,
          noDelay: true,
        });
      } catch (err) {
        const reason = err instanceof SystemError ? err.errnoName : 'ERROR';
        if (FD_EXHAUSTION_CODES.has(reason)) publishFdExhausted({ where: 'connect', code: reason, refused: 1 });
        reject(new UpstreamConnectError(target, reason, err instanceof Error ? err.message : String(err)));
        return;
      }
      const fd = start.fd;
      if (start.errno === 0) {
        resolve(fd);
        return;
      }
      if (start.errno !== EINPROGRESS) {
        reject(new UpstreamConnectError(target, start.code ?? ERRNO_NAMES[start.errno] ?? `errno ${start.errno}`));
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        if (addon().cancelConnect(fd)) {
          this.pending.delete(fd);
          cleanup();
          reject(new UpstreamConnectError(target, 'ABORTED'));
        }
      };
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(fd, {
        resolve: (readyFd) => {
          cleanup();
          resolve(readyFd);
        },
        reject: (errno) => {
          cleanup();
          reject(new UpstreamConnectError(target, ERRNO_NAMES[errno] ?? `errno ${errno}`));
        },
      });
      request.signal?.addEventListener('abort', onAbort, { once: true });
      if (request.timeoutMs) {
        timer = setTimeout(() => {
          if (addon().cancelConnect(fd)) {
            this.pending.delete(fd);
            cleanup();
            reject(new UpstreamConnectError(target, 'ETIMEDOUT', `no answer within ${request.timeoutMs} ms`));
          }
        }, request.timeoutMs);
      }
    });
  }
}

/** Node's own connect: no mark, no transparent source. For tests and for hosts without the addon. */
export class PlainConnector implements Connector {
  connect(request: ConnectRequest): Promise<net.Socket> {
    const { target } = request;
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: target.address,
        port: target.port,
        allowHalfOpen: true,
        noDelay: true,
        ...(request.source ? { localAddress: request.source.address, localPort: request.source.port ?? 0 } : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      const fail = (reason: string, detail?: string): void => {
        if (timer) clearTimeout(timer);
        socket.destroy();
        reject(new UpstreamConnectError(target, reason, detail));
      };
      if (request.timeoutMs) timer = setTimeout(() => fail('ETIMEDOUT', `no answer within ${request.timeoutMs} ms`), request.timeoutMs);
      request.signal?.addEventListener('abort', () => fail('ABORTED'), { once: true });
      socket.once('connect', () => {
        if (timer) clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ERROR', err.message));
    });
  }
}
