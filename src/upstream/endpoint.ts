/**
 * One upstream endpoint of a cluster: its address, labels and weight, its load (active requests), its outlier
 * state, its counters, and (lazily) its HTTP connection pool. Identity is `ip:port`, so the same endpoint keeps
 * its pool and outlier state across configuration reloads.
 */
import { endpointAddr, formatAddress, type EndpointAddr } from '../transport/address';
import type { ConnectRequest } from '../transport/connector';
import { EndpointStats } from './cluster-stats';
import type { Http1Pool } from './http1-pool';

export interface EndpointSpec {
  readonly address: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
}

export class Endpoint {
  readonly key: string;
  readonly address: EndpointAddr;
  labels: Readonly<Record<string, string>>;
  weight: number;
  readonly stats = new EndpointStats();
  /** Source address to connect from (ORIGINAL_DST inbound endpoints with source preservation), else undefined. */
  readonly source: string | undefined;

  // Outlier detection state (see outlier-detection.ts).
  ejected = false;
  ejectedUntil = 0;
  timesEjected = 0;
  lastUnejectedAt = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;

  /** The HTTP/1.1 keep-alive pool to this endpoint, created on first use. */
  pool: Http1Pool | undefined;
  /** How its cluster connects to it (built on first use, then the same object for every connection). */
  connectRequest: ConnectRequest | undefined;

  /** Removed from its cluster (or its cluster retired): close the pool once idle. */
  removed = false;

  constructor(spec: EndpointSpec, source?: string) {
    this.address = endpointAddr(spec.address, spec.port);
    this.key = source === undefined ? formatAddress(this.address) : `${formatAddress(this.address)}|${source}`;
    this.labels = spec.labels;
    this.weight = spec.weight;
    this.source = source;
  }

  get hostPort(): string {
    return formatAddress(this.address);
  }

  get healthFlags(): string {
    return this.ejected ? '/failed_outlier_check' : 'healthy';
  }
}
