/**
 * What the inbound (15006) and outbound (15001) listeners share: transparent sockets for v4 and v6, accepted either
 * by the native acceptor (the default data path: batched accept4, no net.Socket per connection, SO_ORIGINAL_DST and
 * PROXY v2 framing done natively) or by net.Servers (`--data-path js`, the fallback); the bypass mark; the set of
 * downstream connections still open (drain and the active-connections gauge); refusal with a reset and its event;
 * and drain mode — while draining, the ports stay bound and every new connection is refused with a reset (a closed
 * TPROXY port would silently drop SYNs instead).
 */
import net from 'node:net';
import { addon } from '../native/addon';
import { openTransparentListener, listenTransparent } from './listener';
import { clientAddr, normaliseAddress, type OrigDstAddr, type SocketAddress } from './address';
import {
  DownstreamConnection,
  type CallerIdentity,
  type CaptureMethod,
  type ConnectionHandler,
  type ConnectionTracker,
  type Direction,
} from './downstream';
import { NativeAcceptor, type AcceptedConnection, type ProxyHeaderFraming } from './native-acceptor';
import { FD_EXHAUSTION_CODES, publishConnectionAccepted, publishFdExhausted, publishListenerRefused } from '../telemetry/events';

import type { DataPath } from './data-path';

export { DATA_PATHS, type DataPath } from './data-path';

export interface CapturedListenerOptions {
  readonly port: number;
  /** Listen on [::] as well (v6-only socket next to the v4 one). */
  readonly ipv6: boolean;
  readonly captureMode: 'tproxy' | 'redirect';
  /** The bypass mark: accepted sockets inherit it, so capture never catches the proxy's own packets. */
  readonly bypassMark: number;
  readonly reusePort: boolean;
  readonly handler: ConnectionHandler;
  /** Default native. */
  readonly dataPath?: DataPath;
  /** Listen on these addresses instead of 0.0.0.0 (and [::]) — tests on loopback. */
  readonly addresses?: readonly string[];
}

/**
 * An accepted connection before the listener has classified it. The native acceptor's AcceptedConnection is one
 * (no extra object per connection); on the js path it is built from the net.Socket.
 */
export interface Incoming {
  /** The accepted socket's fd (on the js path: the net.Socket's, for getsockopt only). */
  readonly fd: number;
  /** Present on the js path: the socket owns the fd. */
  readonly socket?: net.Socket;
  /** Local address, v4-mapped shown as v4 (under TPROXY: the original destination). */
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  /** SO_ORIGINAL_DST read at accept time (native path, redirect mode), when there is one. */
  readonly origDst?: SocketAddress;
  /** Native PROXY v2 framing (outbound listener, loopback connections). */
  readonly proxyHeader?: ProxyHeaderFraming;
}

const HEADER_WAIT_MAX_MS = 60_000;

export abstract class CapturedListener implements ConnectionTracker {
  private readonly servers: net.Server[] = [];
  private readonly acceptors: { acceptor: NativeAcceptor; fd: number }[] = [];
  private readonly open = new Set<DownstreamConnection>();
  /** js path: sockets whose PROXY header is being read (counted as active, closed at the drain deadline). */
  protected readonly waiting = new Set<net.Socket>();
  private draining = false;
  readonly dataPath: DataPath;

  protected constructor(
    readonly direction: Direction,
    protected readonly base: CapturedListenerOptions,
  ) {
    this.dataPath = base.dataPath ?? 'native';
  }

  async start(): Promise<void> {
    const addresses = this.base.addresses ?? (this.base.ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0']);
    const socketOptions = {
      port: this.base.port,
      transparent: this.base.captureMode === 'tproxy',
      reusePort: this.base.reusePort,
      mark: this.base.bypassMark,
    };
    for (const address of addresses) {
      if (this.dataPath === 'native') {
        const fd = openTransparentListener({ ...socketOptions, address });
        const acceptor = new NativeAcceptor(fd, this.acceptorOptions());
        acceptor.on('connection', (c: AcceptedConnection) => this.onIncoming(c));
        // At the fd limit the acceptor refuses what waits in the queue (its reserve fd) and pauses; reported at
        // most once per interval, with the count since the last report.
        acceptor.on('exhausted', (info: { refused: number }) => {
          publishFdExhausted({ where: 'accept', code: 'EMFILE', refused: info.refused, listener: this.direction });
          if (info.refused > 0) publishListenerRefused({ listener: this.direction, reason: 'fd_exhausted', count: info.refused });
        });
        try {
          acceptor.start();
        } catch (err) {
          addon().closeFd(fd);
          throw err;
        }
        this.acceptors.push({ acceptor, fd });
      } else {
        const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onSocket(s));
        await listenTransparent(server, { ...socketOptions, address });
        // An accept() failure must never take the worker down (an 'error' without a listener throws). At the fd
        // limit libuv accepts and closes the queued connections itself (its reserve-fd trick) and reports EMFILE
        // here only when even that failed: count it, the listener keeps accepting once descriptors are free.
        server.on('error', (err: NodeJS.ErrnoException) => this.onAcceptError(err));
        this.servers.push(server);
      }
    }
  }

  /** The native acceptor's settings for this listener (the outbound listener adds PROXY v2 framing). */
  protected acceptorOptions(): ConstructorParameters<typeof NativeAcceptor>[1] {
    return { batch: 64, originalDst: this.base.captureMode === 'redirect' };
  }

  private onAcceptError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'ERROR';
    if (FD_EXHAUSTION_CODES.has(code)) {
      publishFdExhausted({ where: 'accept', code, refused: 1, listener: this.direction });
      publishListenerRefused({ listener: this.direction, reason: 'fd_exhausted' });
    }
  }

  /** Unbinds the ports; established connections continue. */
  async stop(): Promise<void> {
    for (const { acceptor, fd } of this.acceptors) {
      acceptor.stop();
      addon().closeFd(fd);
    }
    this.acceptors.length = 0;
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  get listening(): boolean {
    if (this.dataPath === 'native') return this.acceptors.length > 0 && this.acceptors.every((a) => a.acceptor.running);
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  /** The port actually bound (the configured one, or the kernel's choice for port 0). */
  get boundPort(): number {
    const a = this.acceptors[0];
    if (a !== undefined) return addon().localAddress(a.fd).port;
    const s = this.servers[0]?.address();
    return typeof s === 'object' && s !== null ? s.port : this.base.port;
  }

  /** From now on new connections are refused (reset); open ones continue. */
  drain(): void {
    this.draining = true;
    for (const { acceptor } of this.acceptors) acceptor.stopFraming();
  }

  /** Downstream connections accepted by this listener and not yet closed. */
  get activeConnections(): number {
    return this.open.size + this.waiting.size;
  }

  /** Ends every open downstream connection (the end of a drain period). */
  closeAll(): void {
    for (const c of this.open) c.abort();
    for (const s of this.waiting) s.destroy();
  }

  released(conn: DownstreamConnection): void {
    this.open.delete(conn);
  }

  private onSocket(socket: net.Socket): void {
    socket.on('error', ignore);
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    const incoming: Incoming = {
      fd,
      socket,
      local: address(socket.localAddress, socket.localPort),
      remote: address(socket.remoteAddress, socket.remotePort),
    };
    this.onIncoming(incoming);
  }

  private onIncoming(c: Incoming): void {
    if (this.draining) return this.refuse(c, 'draining');
    this.accept(c);
  }

  /** Decide what the accepted connection is; call dispatch() or refuse(). */
  protected abstract accept(c: Incoming): void;

  protected refuse(c: Incoming, reason: string): void {
    publishListenerRefused({ listener: this.direction, reason, remote: c.remote.address });
    if (c.socket !== undefined) c.socket.resetAndDestroy();
    else addon().resetFd(c.fd);
  }

  /** The connection as a net.Socket (js path: the one it has; native: made from the fd, which it then owns). */
  protected socketOf(c: Incoming): net.Socket {
    if (c.socket !== undefined) return c.socket;
    const s = new net.Socket({ fd: c.fd, readable: true, writable: true, allowHalfOpen: true });
    s.on('error', ignore);
    return s;
  }

  protected dispatch(
    c: Incoming,
    dst: OrigDstAddr,
    capture: CaptureMethod,
    caller?: CallerIdentity,
    initialData?: Buffer,
    socket?: net.Socket,
  ): void {
    publishConnectionAccepted({ direction: this.direction, capture });
    const transport = socket ?? c.socket ?? c.fd;
    const conn = new DownstreamConnection(
      { transport, direction: this.direction, capture, origDst: dst, client: clientAddr(c.remote.address, c.remote.port), caller, initialData },
      this,
    );
    if (conn.closed) return; // its socket closed before it got here (js path, during the header read)
    this.open.add(conn);
    this.base.handler.handle(conn);
  }

  /** How long the native acceptor may wait for a trailing PROXY header (0: let JavaScript read it). */
  protected static nativeHeaderWait(timeoutMs: number): number {
    return timeoutMs > 0 && timeoutMs <= HEADER_WAIT_MAX_MS ? timeoutMs : 0;
  }
}

function address(a: string | undefined, port: number | undefined): SocketAddress {
  const normalised = normaliseAddress(a ?? '0.0.0.0');
  return { address: normalised, port: port ?? 0, family: net.isIPv4(normalised) ? 4 : 6 };
}

function ignore(): void {}
