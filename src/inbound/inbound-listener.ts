/**
 * The inbound listener (15006): accepts TPROXY'd connections on transparent sockets (v4 and v6) and recovers the
 * original destination — the accepted socket's local address under TPROXY, SO_ORIGINAL_DST under the REDIRECT
 * baseline — then hands the connection to inbound routing. Direct connections to the port itself are refused.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { addon } from '../native/addon';
import { clientAddr, origDst, type OrigDstAddr } from '../transport/address';
import { listenTransparent } from '../transport/listener';
import { nextConnectionId, type CaptureMethod, type ConnectionHandler } from '../transport/downstream';

export interface CapturedListenerOptions {
  readonly port: number;
  /** Listen on [::] as well (v6-only socket). */
  readonly ipv6: boolean;
  readonly captureMode: 'tproxy' | 'redirect';
  /** The bypass mark: accepted sockets inherit it, so the reply-marking rule skips the proxy's own packets. */
  readonly bypassMark: number;
  readonly reusePort: boolean;
  readonly handler: ConnectionHandler;
}

export type RefusalReason = 'direct_to_listener' | 'no_original_destination' | 'proxy_header';

/** Emits 'refused' (reason, remote) for connections that were not captured traffic. */
export class InboundListener extends EventEmitter {
  private readonly servers: net.Server[] = [];

  constructor(private readonly options: CapturedListenerOptions) {
    super();
  }

  async start(): Promise<void> {
    const families = this.options.ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0'];
    for (const address of families) {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (s) => this.accept(s));
      await listenTransparent(server, {
        address,
        port: this.options.port,
        transparent: this.options.captureMode === 'tproxy',
        reusePort: this.options.reusePort,
        mark: this.options.bypassMark,
      });
      this.servers.push(server);
    }
  }

  /** Stops accepting; established connections continue. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  get listening(): boolean {
    return this.servers.length > 0 && this.servers.every((s) => s.listening);
  }

  private accept(socket: net.Socket): void {
    const dst = this.originalDestination(socket);
    if (!dst) {
      socket.on('error', () => undefined);
      socket.resetAndDestroy();
      return;
    }
    const capture: CaptureMethod = this.options.captureMode;
    this.options.handler.handle({
      id: nextConnectionId(),
      socket,
      direction: 'inbound',
      capture,
      origDst: dst,
      client: clientAddr(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0),
      startedAt: Date.now(),
    });
  }

  private originalDestination(socket: net.Socket): OrigDstAddr | undefined {
    const local = origDst(socket.localAddress ?? '', socket.localPort ?? 0);
    if (this.options.captureMode === 'redirect') {
      try {
        const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
        const d = addon().getOriginalDst(fd, local.family);
        const dst = origDst(d.address, d.port);
        if (dst.port === this.options.port && dst.address === local.address) {
          this.emit('refused', 'direct_to_listener', socket.remoteAddress);
          return undefined;
        }
        return dst;
      } catch {
        this.emit('refused', 'no_original_destination', socket.remoteAddress);
        return undefined;
      }
    }
    // Under TPROXY the local address is where the client meant to go; a connection that really targeted the
    // listener port was not captured — refuse it, the port is not a service.
    if (local.port === this.options.port) {
      this.emit('refused', 'direct_to_listener', socket.remoteAddress);
      return undefined;
    }
    return local;
  }
}
