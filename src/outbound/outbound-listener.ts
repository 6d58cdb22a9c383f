/**
 * The outbound listener (15001), one port for two kinds of connection (DESIGN 3.5): a connection whose local
 * address is loopback came from the connect() hook and must open with a valid PROXY v2 header (read with a
 * deadline, else refused and counted — the port is never an open relay); any other connection was TPROXY'd and
 * its local address is the original destination. Under the REDIRECT baseline SO_ORIGINAL_DST says where it went.
 */
import type net from 'node:net';
import os from 'node:os';
import { addon } from '../native/addon';
import { isLoopback, normaliseAddress, origDst, type OrigDstAddr } from '../transport/address';
import { CapturedListener, type CapturedListenerOptions } from '../transport/captured-listener';
import { ProxyHeaderDecoder, type ProxyDecodeResult } from '../transport/proxy-protocol';

export interface OutboundListenerOptions extends CapturedListenerOptions {
  readonly headerTimeoutMs: number;
  /** Largest header accepted (bytes); a longer one is refused. */
  readonly maxHeaderBytes: number;
}

export class OutboundListener extends CapturedListener {
  private localAddresses = new Set<string>();

  constructor(private readonly options: OutboundListenerOptions) {
    super('outbound', options);
  }

  override async start(): Promise<void> {
    this.refreshLocalAddresses();
    await super.start();
  }

  /** The pod's own addresses: a connection to one of them on the listener port was not captured. */
  refreshLocalAddresses(): void {
    const set = new Set<string>();
    for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) set.add(normaliseAddress(a.address));
    this.localAddresses = set;
  }

  protected accept(socket: net.Socket): void {
    const local = origDst(socket.localAddress ?? '', socket.localPort ?? 0);
    if (this.options.captureMode === 'redirect') {
      const redirected = this.redirectedDestination(socket, local);
      if (redirected) return this.dispatch(socket, redirected, 'redirect');
    }
    if (isLoopback(local.address)) return this.readHeader(socket);
    if (this.options.captureMode === 'tproxy' && !(local.port === this.options.port && this.localAddresses.has(local.address))) {
      return this.dispatch(socket, local, 'tproxy');
    }
    this.refuse(socket, 'direct_to_listener');
  }

  private redirectedDestination(socket: net.Socket, local: OrigDstAddr): OrigDstAddr | undefined {
    try {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
      const d = addon().getOriginalDst(fd, local.family);
      const dst = origDst(d.address, d.port);
      return dst.address === local.address && dst.port === local.port ? undefined : dst;
    } catch {
      return undefined;
    }
  }

  private readHeader(socket: net.Socket): void {
    const decoder = new ProxyHeaderDecoder({ maxHeaderBytes: this.options.maxHeaderBytes });
    let settled = false;
    const timer = setTimeout(() => settle(undefined, 'timeout'), this.options.headerTimeoutMs);
    const onData = (chunk: Buffer): void => {
      const r = decoder.push(chunk);
      if (r.status !== 'needs-more') settle(r);
    };
    const onEnd = (): void => settle(decoder.end());
    const settle = (r: ProxyDecodeResult | undefined, failure?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (!r || r.status !== 'header') {
        return this.refuse(socket, `proxy_header_${failure ?? (r && r.status === 'error' ? r.reason : 'incomplete')}`);
      }
      const { header } = r;
      if (header.command !== 'PROXY' || header.endpoints.kind !== 'inet') return this.refuse(socket, 'proxy_header_not_inet_proxy');
      socket.pause();
      const caller = header.caller
        ? { pid: header.caller.pid ?? 0, uid: header.caller.uid ?? 0, comm: header.caller.comm ?? '' }
        : undefined;
      const dst = header.endpoints.destination;
      this.dispatch(socket, origDst(dst.address, dst.port), 'hook', caller, r.rest.length ? r.rest : undefined);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  }
}
