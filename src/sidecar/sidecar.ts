/**
 * One proxy process's data plane: the inbound (15006) and outbound (15001) listeners wired to the routing handlers,
 * plus any extra listeners (the admin API), with their lifecycle — start, drain (refuse new connections, let open
 * ones finish), stop.
 */
import type { Connector } from '../transport/connector';
import type { ConnectionHandler } from '../transport/downstream';
import { InboundListener } from '../inbound/inbound-listener';
import { OutboundListener } from '../outbound/outbound-listener';

export interface SidecarOptions {
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly captureMode: 'tproxy' | 'redirect';
  readonly bypassMark: number;
  readonly ipv6: boolean;
  readonly reusePort: boolean;
  /** Deadline for a hooked connection's PROXY v2 header (ms). */
  readonly proxyHeaderTimeoutMs?: number;
}

export interface SidecarHandlers {
  readonly inbound: ConnectionHandler;
  readonly outbound: ConnectionHandler;
}

export interface Listener {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly listening: boolean;
}

export class Sidecar {
  private readonly inbound: InboundListener;
  private readonly outbound: OutboundListener;
  private started = false;

  constructor(
    readonly options: SidecarOptions,
    readonly connector: Connector,
    readonly handlers: SidecarHandlers,
    private readonly extraListeners: readonly Listener[] = [],
  ) {
    const common = { ipv6: options.ipv6, captureMode: options.captureMode, bypassMark: options.bypassMark, reusePort: options.reusePort };
    this.inbound = new InboundListener({ ...common, port: options.inboundPort, handler: handlers.inbound });
    this.outbound = new OutboundListener({
      ...common,
      port: options.outboundPort,
      handler: handlers.outbound,
      headerTimeoutMs: options.proxyHeaderTimeoutMs ?? 3000,
      maxHeaderBytes: 1024,
    });
  }

  async start(): Promise<void> {
    for (const l of [this.inbound, this.outbound, ...this.extraListeners]) await l.start();
    this.started = true;
  }

  /** True once every listener is bound (the readiness condition). */
  get ready(): boolean {
    return this.started && [this.inbound, this.outbound, ...this.extraListeners].every((l) => l.listening);
  }

  /** Downstream connections open now, per direction. */
  activeConnections(): { inbound: number; outbound: number } {
    return { inbound: this.inbound.activeConnections, outbound: this.outbound.activeConnections };
  }

  /** Refuse new connections from now on; open ones continue. */
  drain(): void {
    this.inbound.drain();
    this.outbound.drain();
  }

  /** Destroys every open downstream connection (end of the drain period). */
  closeAll(): void {
    this.inbound.closeAll();
    this.outbound.closeAll();
  }

  /** Unbinds every port; established connections continue. */
  async stopAccepting(): Promise<void> {
    await Promise.all([this.inbound, this.outbound, ...this.extraListeners].map((l) => l.stop()));
  }
}
