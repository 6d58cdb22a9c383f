/**
 * The pod's own addresses, as the listeners need them to tell a captured connection from one that merely reached a
 * listener socket: a TPROXY'd inbound connection must be addressed to the pod (anything else was routed *through*
 * the pod by a neighbour and must not be relayed), and a connection to the outbound port at a pod address was not
 * captured at all. Kept as a set and re-read on a miss — at most once per refresh interval, so a flood of
 * connections to foreign addresses cannot make every refusal pay for a getifaddrs (~0.1 ms).
 */
import os from 'node:os';
import { isLoopback, normaliseAddress } from './address';

/** The interface address lister (injected: tests describe any namespace). */
export type InterfaceLister = () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;

/** How often a miss may re-read the interfaces: an address added after start-up is seen within this time. */
export const REFRESH_INTERVAL_MS = 250;

export class LocalAddresses {
  private set = new Set<string>();
  private refreshedAt = -Infinity;

  constructor(
    private readonly list: InterfaceLister = os.networkInterfaces,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refresh();
  }

  refresh(): void {
    const set = new Set<string>();
    for (const entries of Object.values(this.list())) for (const a of entries ?? []) set.add(normaliseAddress(a.address));
    this.set = set;
    this.refreshedAt = this.now();
  }

  /** Whether `address` is configured on an interface of this namespace (all of 127.0.0.0/8 is). */
  has(address: string): boolean {
    const a = normaliseAddress(address);
    // The kernel owns all of 127.0.0.0/8 (lo lists only 127.0.0.1).
    if (this.set.has(a) || isLoopback(a)) return true;
    if (this.now() - this.refreshedAt < REFRESH_INTERVAL_MS) return false;
    this.refresh();
    return this.set.has(a);
  }
}
