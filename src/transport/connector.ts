/**
 * Upstream connectors: open a TCP connection to an endpoint and hand back a net.Socket. The native connector
 * marks the socket (SO_MARK, so capture never re-captures the proxy) and can spoof the source address
 * (IP_TRANSPARENT + bind, for source preservation) from the very first SYN; the plain connector is Node's own.
 */
import net from 'node:net';
import os from 'node:os';
import { addon } from '../native/addon';
import { SidelaneError, SystemError } from '../errors';
import type { SocketAddress } from './address';
import { FD_EXHAUSTION_CODES, publishFdExhausted } from '../telemetry/events';

export interface ConnectRequest {
  readonly target: SocketAddress;
  /** Bind to this source address first (transparent when not local). */
  readonly source?: {
    readonly address: string;
    readonly port?: number;
    /** Pick the source port from this range (retrying on clashes) instead of the kernel's ephemeral range. */
    readonly portRange?: { readonly min: number; readonly max: number };
  };
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

/** errno number → name (ECONNREFUSED…), from the platform's own table. */
const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** Told once how a raw connect ended: the connected fd (err undefined), or -1 and the error. */
export type RawConnectDone<C> = (fd: number, err: UpstreamConnectError | undefined, context: C) => void;

/** A connector that can hand back raw fds (for the native relay): NativeConnector. */
export interface RawConnector extends Connector {
  /**
   * Connects and calls `onDone(fd, undefined, context)` with the connected, non-blocking fd (the caller owns it), or
   * `onDone(-1, error, context)`. A handshake that completes (or fails) at once is reported synchronously, before
   * this returns -1; otherwise returns a handle for cancel(). No promise and no closure per connection.
   */
  connectRaw<C>(request: ConnectRequest, context: C, onDone: RawConnectDone<C>): number;
  /** Abandons a pending connect (its fd is closed); onDone runs with ABORTED. False if it is not pending. */
  cancel(handle: number): boolean;
}

export function isRawConnector(c: Connector): c is RawConnector {
  return typeof (c as Partial<RawConnector>).connectRaw === 'function';
}

class PendingConnect {
  timer: NodeJS.Timeout | undefined = undefined;
  constructor(
    readonly fd: number,
    readonly request: ConnectRequest,
    readonly context: unknown,
    readonly onDone: RawConnectDone<unknown>,
  ) {}
}

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

// The addon reports completions to one callback per process, keyed by fd: the pending connects of every
// NativeConnector live in one map.
const pending = new Map<number, PendingConnect>();
let callbackSet = false;

function completed(fd: number, errno: number): void {
  const p = pending.get(fd);
  if (!p) return;
  pending.delete(fd);
  if (p.timer) clearTimeout(p.timer);
  if (errno === 0) p.onDone(fd, undefined, p.context);
  else p.onDone(-1, new UpstreamConnectError(p.request.target, errnoName(errno)), p.context);
}

/** Opens sockets through the native addon; completion arrives on the event loop, never blocking it. */
export class NativeConnector implements RawConnector {
  private readonly native = addon();

  constructor() {
    if (!callbackSet) {
      this.native.setConnectCallback(completed);
      callbackSet = true;
    }
  }

  connect(request: ConnectRequest): Promise<net.Socket> {
    return this.connectFd(request).then(
      (fd) => new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true }),
    );
  }

  /**
   * Connects and resolves with the raw, connected, non-blocking fd (the caller owns it) — for the native relay,
   * so a TCP-proxied connection never creates a net.Socket. connectRaw() is the same without a promise.
   */
  connectFd(request: ConnectRequest): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const handle = this.connectRaw(request, { resolve, reject }, settlePromise);
      if (handle < 0 || request.signal === undefined) return;
      request.signal.addEventListener('abort', () => this.cancel(handle), { once: true });
    });
  }

  connectRaw<C>(request: ConnectRequest, context: C, onDone: RawConnectDone<C>): number {
    const { target } = request;
    if (request.signal?.aborted) {
      onDone(-1, new UpstreamConnectError(target, 'ABORTED'), context);
      return -1;
    }
    const source = request.source;
    let n: number;
    try {
      n = this.native.connectTo(
        target.family,
        target.address,
        target.port,
        source ? source.address : null,
        source?.port ?? 0,
        source?.portRange?.min ?? 0,
        source?.portRange?.max ?? 0,
        (request.transparent ? 1 : 0) | 2,
        request.mark ?? 0,
      );
    } catch (err) {
      const reason = err instanceof SystemError ? err.errnoName : 'ERROR';
      if (FD_EXHAUSTION_CODES.has(reason)) publishFdExhausted({ where: 'connect', code: reason, refused: 1 });
      onDone(-1, new UpstreamConnectError(target, reason, err instanceof Error ? err.message : String(err)), context);
      return -1;
    }
    if (n < 0) {
      const reason = errnoName(-n);
      if (FD_EXHAUSTION_CODES.has(reason)) publishFdExhausted({ where: 'connect', code: reason, refused: 1 });
      onDone(-1, new UpstreamConnectError(target, reason), context);
      return -1;
    }
    const fd = n >> 1;
    if ((n & 1) === 0) {
      onDone(fd, undefined, context);
      return -1;
    }
    const p = new PendingConnect(fd, request, context, onDone as RawConnectDone<unknown>);
    pending.set(fd, p);
    if (request.timeoutMs) p.timer = setTimeout(connectTimedOut, request.timeoutMs, this, p);
    return fd;
  }

  cancel(handle: number): boolean {
    return this.abandon(handle, 'ABORTED');
  }

  /** @internal a pending connect ran out of time. */
  timedOut(p: PendingConnect): void {
    if (pending.get(p.fd) === p) this.abandon(p.fd, 'ETIMEDOUT', `no answer within ${p.request.timeoutMs} ms`);
  }

  private abandon(fd: number, reason: string, detail?: string): boolean {
    const p = pending.get(fd);
    if (p === undefined || !addon().cancelConnect(fd)) return false;
    pending.delete(fd);
    if (p.timer) clearTimeout(p.timer);
    p.onDone(-1, new UpstreamConnectError(p.request.target, reason, detail), p.context);
    return true;
  }
}

function connectTimedOut(connector: NativeConnector, p: PendingConnect): void {
  connector.timedOut(p);
}

function settlePromise(fd: number, err: UpstreamConnectError | undefined, p: { resolve(fd: number): void; reject(err: Error): void }): void {
  if (err) p.reject(err);
  else p.resolve(fd);
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
