/**
 * The composition root of one proxy process: wires the real connector, listeners and routing handlers together
 * and owns their lifecycle (start, stop accepting, close). Everything it creates is injected below it.
 */
import type { Connector } from '../transport/connector';
import type { ConnectionHandler } from '../transport/downstream';
import { InboundListener } from '../inbound/inbound-listener';
import { OutboundListener } from '../outbound/outbound-listener';
import { publishListenerRefused } from '../telemetry/events';

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
  private readonly listeners: Listener[] = [];

  constructor(
    readonly options: SidecarOptions,
    readonly connector: Connector,
    readonly handlers: SidecarHandlers,
    private readonly extraListeners: readonly Listener[] = [],
  ) {}

  async start(): Promise<void> {
    const inbound = new InboundListener({
      port: this.options.inboundPort,
      ipv6: this.options.ipv6,
      captureMode: this.options.captureMode,
      bypassMark: this.options.bypassMark,
      reusePort: this.options.reusePort,
      handler: this.handlers.inbound,
    });
    inbound.on('refused', (reason: string, remote?: string) =>
      publishListenerRefused({ listener: 'inbound', reason, ...(remote ? { remote } : {}) }),
    );
    const outbound = new OutboundListener({
      port: this.options.outboundPort,
      ipv6: this.options.ipv6,
      captureMode: this.options.captureMode,
      bypassMark: this.options.bypassMark,
      reusePort: this.options.reusePort,
      headerTimeoutMs: this.options.proxyHeaderTimeoutMs ?? 3000,
      maxHeaderBytes: 1024,
      handler: this.handlers.outbound,
    });
    outbound.on('refused', (reason: string, remote?: string) =>
      publishListenerRefused({ listener: 'outbound', reason, ...(remote ? { remote } : {}) }),
    );
    this.listeners.push(inbound, outbound, ...this.extraListeners);
    for (const l of this.listeners) await l.start();
  }

  /** True once every listener is bound (the readiness condition). */
  get ready(): boolean {
    return this.listeners.length > 0 && this.listeners.every((l) => l.listening);
  }

  /** Stops accepting new connections; established ones continue. */
  async stopAccepting(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.stop()));
  }
}
