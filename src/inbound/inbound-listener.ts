/**
 * The inbound listener (15006): accepts TPROXY'd connections on transparent sockets (v4 and v6) and recovers the
 * original destination — the accepted socket's local address under TPROXY, SO_ORIGINAL_DST under the REDIRECT
 * baseline — then hands the connection to inbound routing. Direct connections to the port itself are refused.
 */
import type net from 'node:net';
import { addon } from '../native/addon';
import { origDst, type OrigDstAddr } from '../transport/address';
import { CapturedListener, type CapturedListenerOptions } from '../transport/captured-listener';

export type { CapturedListenerOptions };

export class InboundListener extends CapturedListener {
  constructor(options: CapturedListenerOptions) {
    super('inbound', options);
  }

  protected accept(socket: net.Socket): void {
    const local = origDst(socket.localAddress ?? '', socket.localPort ?? 0);
    if (this.base.captureMode === 'redirect') {
      let dst: OrigDstAddr;
      try {
        const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
        const d = addon().getOriginalDst(fd, local.family);
        dst = origDst(d.address, d.port);
      } catch {
        return this.refuse(socket, 'no_original_destination');
      }
      if (dst.port === this.base.port && dst.address === local.address) return this.refuse(socket, 'direct_to_listener');
      return this.dispatch(socket, dst, 'redirect');
    }
    // Under TPROXY the local address is where the client meant to go; a connection that really targeted the
    // listener port was not captured — refuse it, the port is not a service.
    if (local.port === this.base.port) return this.refuse(socket, 'direct_to_listener');
    this.dispatch(socket, local, 'tproxy');
  }
}
