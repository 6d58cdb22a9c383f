/**
 * The inbound listener (15006): accepts TPROXY'd connections on transparent sockets (v4 and v6) and recovers the
 * original destination — the accepted socket's local address under TPROXY, SO_ORIGINAL_DST under the REDIRECT
 * baseline — then hands the connection to inbound routing. Direct connections to the port itself are refused, and
 * so are connections to an address that is not the pod's: a neighbour that routes traffic for a third address
 * through the pod gets it TPROXY'd (or REDIRECTed) here too, and relaying it would make the pod an open relay.
 */
import { addon } from '../native/addon';
import { origDst, type OrigDstAddr } from '../transport/address';
import { CapturedListener, type CapturedListenerOptions, type Incoming } from '../transport/captured-listener';
import { LocalAddresses } from '../transport/local-addresses';

export type { CapturedListenerOptions };

export class InboundListener extends CapturedListener {
  constructor(
    options: CapturedListenerOptions,
    private readonly localAddresses: LocalAddresses = new LocalAddresses(),
  ) {
    super('inbound', options);
  }

  protected accept(c: Incoming): void {
    const local = origDst(c.local.address, c.local.port);
    if (this.base.captureMode === 'redirect') {
      const d = c.socket !== undefined ? redirectedDestination(c.fd, local) : c.origDst;
      if (d === undefined) return this.refuse(c, 'no_original_destination');
      const dst = origDst(d.address, d.port);
      if (dst.port === this.base.port && dst.address === local.address) return this.refuse(c, 'direct_to_listener');
      if (!this.localAddresses.has(dst.address)) return this.refuse(c, 'not_local_destination');
      return this.dispatch(c, dst, 'redirect');
    }
    // Under TPROXY the local address is where the client meant to go; a connection that really targeted the
    // listener port was not captured — refuse it, the port is not a service.
    if (local.port === this.base.port) return this.refuse(c, 'direct_to_listener');
    if (!this.localAddresses.has(local.address)) return this.refuse(c, 'not_local_destination');
    this.dispatch(c, local, 'tproxy');
  }
}

/** SO_ORIGINAL_DST of a socket accepted by a net.Server (the native acceptor reads it at accept time). */
function redirectedDestination(fd: number, local: OrigDstAddr): { address: string; port: number } | undefined {
  try {
    return addon().getOriginalDst(fd, local.family);
  } catch {
    return undefined;
  }
}
