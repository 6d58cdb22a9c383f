/**
 * The outbound listener (15001), one port for two kinds of connection (DESIGN 3.5): a connection whose local
 * address is loopback came from the connect() hook and must open with a valid PROXY v2 header (read with a
 * deadline, else refused and counted — the port is never an open relay); any other connection was TPROXY'd and
 * its local address is the original destination. Under the REDIRECT baseline SO_ORIGINAL_DST says where it went.
 */
import type net from 'node:net';
import { addon } from '../native/addon';
import { isLoopback, origDst, type OrigDstAddr } from '../transport/address';
import { CapturedListener, type CapturedListenerOptions, type Incoming } from '../transport/captured-listener';
import { LocalAddresses } from '../transport/local-addresses';
import type { CallerIdentity } from '../transport/downstream';
import { decodeProxyHeader, ProxyHeaderDecoder, type DecodeLimits, type ProxyDecodeResult, type ProxyHeader } from '../transport/proxy-protocol';

export interface OutboundListenerOptions extends CapturedListenerOptions {
  readonly headerTimeoutMs: number;
  /** Largest header accepted (bytes); a longer one is refused. */
  readonly maxHeaderBytes: number;
}

export class OutboundListener extends CapturedListener {
  private readonly limits: DecodeLimits;

  constructor(
    private readonly options: OutboundListenerOptions,
    /** The pod's own addresses: a connection to one of them on the listener port was not captured. */
    private readonly localAddresses: LocalAddresses = new LocalAddresses(),
  ) {
    super('outbound', options);
    this.limits = { maxHeaderBytes: options.maxHeaderBytes };
  }

  /** Hooked connections arrive on loopback with a PROXY v2 header: framed natively, waited for up to the deadline. */
  protected override acceptorOptions(): ReturnType<CapturedListener['acceptorOptions']> {
    return {
      ...super.acceptorOptions(),
      proxyHeader: 'loopback',
      maxHeaderBytes: this.options.maxHeaderBytes,
      headerWaitMs: CapturedListener.nativeHeaderWait(this.options.headerTimeoutMs),
    };
  }

  protected accept(c: Incoming): void {
    const local = origDst(c.local.address, c.local.port);
    if (this.options.captureMode === 'redirect') {
      const redirected = this.redirectedDestination(c, local);
      if (redirected) return this.dispatch(c, redirected, 'redirect');
    }
    if (isLoopback(local.address)) return this.hooked(c);
    if (this.options.captureMode === 'tproxy' && !(local.port === this.options.port && this.localAddresses.has(local.address))) {
      return this.dispatch(c, local, 'tproxy');
    }
    this.refuse(c, 'direct_to_listener');
  }

  private redirectedDestination(c: Incoming, local: OrigDstAddr): OrigDstAddr | undefined {
    let d: { address: string; port: number } | undefined = c.origDst;
    if (c.socket !== undefined) {
      try {
        d = addon().getOriginalDst(c.fd, local.family);
      } catch {
        return undefined;
      }
    }
    if (d === undefined) return undefined;
    const dst = origDst(d.address, d.port);
    return dst.address === local.address && dst.port === local.port ? undefined : dst;
  }

  /** A connection from the hook: its PROXY v2 header, framed natively or read here, says where it was going. */
  private hooked(c: Incoming): void {
    const framing = c.proxyHeader;
    if (framing?.status === 'complete') {
      // Native framing consumed exactly the header; the codec decodes it (and may still find it invalid).
      const r = decodeProxyHeader(framing.bytes, this.limits);
      return this.settleHeader(c, r.status === 'needs-more' ? undefined : r, undefined, undefined);
    }
    if (framing?.status === 'timeout') return this.refuse(c, 'proxy_header_timeout');
    // js path, or a header native framing could not complete (malformed, oversized, closed, pending): read it from
    // the socket, so every refusal carries the codec's own reason on both data paths.
    this.readHeader(c, this.socketOf(c));
  }

  private readHeader(c: Incoming, socket: net.Socket): void {
    const decoder = new ProxyHeaderDecoder(this.limits);
    let settled = false;
    this.waiting.add(socket);
    const timer = setTimeout(() => settle(undefined, 'timeout'), this.options.headerTimeoutMs);
    const onData = (chunk: Buffer): void => {
      const r = decoder.push(chunk);
      if (r.status !== 'needs-more') settle(r);
    };
    const onEnd = (): void => settle(decoder.end());
    const settle = (r: ProxyDecodeResult | undefined, failure?: string): void => {
      if (settled) return;
      settled = true;
      this.waiting.delete(socket);
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      this.settleHeader({ ...c, socket }, r, failure, socket);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  }

  private settleHeader(c: Incoming, r: ProxyDecodeResult | undefined, failure: string | undefined, socket: net.Socket | undefined): void {
    if (!r || r.status !== 'header') {
      return this.refuse(c, `proxy_header_${failure ?? (r && r.status === 'error' ? r.reason : 'incomplete')}`);
    }
    const { header } = r;
    if (header.command !== 'PROXY' || header.endpoints.kind !== 'inet') return this.refuse(c, 'proxy_header_not_inet_proxy');
    this.dispatch(c, header.endpoints.destination, 'hook', callerOf(header), r.rest.length ? r.rest : undefined, socket);
  }
}

function callerOf(header: ProxyHeader): CallerIdentity | undefined {
  return header.caller ? { pid: header.caller.pid ?? 0, uid: header.caller.uid ?? 0, comm: header.caller.comm ?? '' } : undefined;
}
