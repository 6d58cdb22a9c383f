/**
 * What the inbound (15006) and outbound (15001) listeners share: transparent sockets for v4 and v6 handed to
 * net.Servers, the bypass mark, the set of downstream connections still open (drain and the active-connections
 * gauge), refusal with a reset and its event, and drain mode — while draining, the ports stay bound and every new
 * connection is refused with a reset (a closed TPROXY port would silently drop SYNs instead).
 */
import net from 'node:net';
import { listenTransparent } from './listener';
import { clientAddr, type OrigDstAddr } from './address';
import { nextConnectionId, type CallerIdentity, type CaptureMethod, type ConnectionHandler, type Direction } from './downstream';
import { FD_EXHAUSTION_CODES, publishConnectionAccepted, publishFdExhausted, publishListenerRefused } from '../telemetry/events';

export interface CapturedListenerOptions {
  readonly port: number;
  /** Listen on [::] as well (v6-only socket next to the v4 one). */
  readonly ipv6: boolean;
  readonly captureMode: 'tproxy' | 'redirect';
  /** The bypass mark: accepted sockets inherit it, so capture never catches the proxy's own packets. */
  readonly bypassMark: number;
  readonly reusePort: boolean;
  readonly handler: ConnectionHandler;
}

export abstract class CapturedListener {
  private readonly servers: net.Server[] = [];
  private readonly open = new Set<net.Socket>();
  private draining = false;

  protected constructor(
    readonly direction: Direction,
    protected readonly base: CapturedListenerOptions,
  ) {}

  async start(): Promise<void> {
    const addresses = this.base.ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0'];
    for (const address of addresses) {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.onConnection(s));
      await listenTransparent(server, {
        address,
        port: this.base.port,
        transparent: this.base.captureMode === 'tproxy',
        reusePort: this.base.reusePort,
        mark: this.base.bypassMark,
      });
      // An accept() failure must never take the worker down (an 'error' without a listener throws). At the fd limit
      // libuv accepts and closes the queued connections itself (its reserve-fd trick) and reports EMFILE here only
      // when even that failed: count it, the listener keeps accepting once descriptors are free.
      server.on('error', (err: NodeJS.ErrnoException) => this.onAcceptError(err));
      this.servers.push(server);
    }
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
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  get listening(): boolean {
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  /** From now on new connections are refused (reset); open ones continue. */
  drain(): void {
    this.draining = true;
  }

  /** Downstream connections accepted by this listener and not yet closed. */
  get activeConnections(): number {
    return this.open.size;
  }

  /** Destroys every open downstream connection (the end of a drain period). */
  closeAll(): void {
    for (const s of this.open) s.destroy();
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', ignore);
    if (this.draining) return this.refuse(socket, 'draining');
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    this.accept(socket);
  }

  /** Decide what the accepted connection is; call dispatch() or refuse(). */
  protected abstract accept(socket: net.Socket): void;

  protected refuse(socket: net.Socket, reason: string): void {
    publishListenerRefused({ listener: this.direction, reason, ...(socket.remoteAddress ? { remote: socket.remoteAddress } : {}) });
    socket.resetAndDestroy();
  }

  protected dispatch(socket: net.Socket, dst: OrigDstAddr, capture: CaptureMethod, caller?: CallerIdentity, initialData?: Buffer): void {
    publishConnectionAccepted({ direction: this.direction, capture });
    this.base.handler.handle({
      id: nextConnectionId(),
      socket,
      direction: this.direction,
      capture,
      origDst: dst,
      client: clientAddr(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0),
      startedAt: Date.now(),
      ...(caller ? { caller } : {}),
      ...(initialData ? { initialData } : {}),
    });
  }
}

function ignore(): void {}
