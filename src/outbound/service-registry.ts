/**
 * The service registry (what CDS/EDS tell Envoy): services by host, and the original destinations that identify a
 * service port — a service address (VIP) with the service port, or an endpoint address with the endpoint's target
 * port (a client that resolved a headless name or a pod address directly).
 */
import { normaliseAddress } from '../transport/address';
import { resolveProtocol, type ResolvedProtocol } from '../config/protocol';
import type { EndpointConfig, ServiceConfig, ServicePortConfig } from '../config/schema';

export interface ServicePort {
  readonly service: ServiceConfig;
  readonly port: ServicePortConfig;
  readonly protocol: ResolvedProtocol;
}

export interface AddressMatch extends ServicePort {
  /** How the original destination matched. */
  readonly via: 'address' | 'endpoint';
}

/** The port an endpoint serves a service port on (named ports, the single-port shorthand, targetPort, the port). */
export function endpointPort(service: ServiceConfig, port: ServicePortConfig, ep: EndpointConfig): number {
  const byName = port.name !== undefined ? ep.ports?.[port.name] : undefined;
  return byName ?? ep.ports?.[String(port.port)] ?? (service.ports.length === 1 ? ep.port : undefined) ?? port.targetPort ?? port.port;
}

function key(address: string, port: number): string {
  return `${normaliseAddress(address)}|${port}`;
}

export class ServiceRegistry {
  private readonly byHost = new Map<string, ServiceConfig>();
  private readonly byAddress = new Map<string, AddressMatch>();
  /** The first endpoint seen at each address: who a peer address is (source_* labels on inbound requests). */
  private readonly peers = new Map<string, { readonly service: ServiceConfig; readonly labels: Readonly<Record<string, string>> }>();
  /** Endpoint address:ports claimed by more than one service port: ambiguous, so not used for lookup. */
  private readonly ambiguous = new Set<string>();

  constructor(services: readonly ServiceConfig[]) {
    for (const service of services) {
      this.byHost.set(service.host, service);
      for (const port of service.ports) {
        const protocol = resolveProtocol(port.protocol, port.name);
        for (const address of service.addresses ?? []) {
          this.byAddress.set(key(address, port.port), { service, port, protocol, via: 'address' });
        }
      }
    }
    // Endpoint addresses second: a service address always wins over an endpoint that happens to share it.
    for (const service of services) {
      for (const port of service.ports) {
        const protocol = resolveProtocol(port.protocol, port.name);
        for (const ep of service.endpoints ?? []) {
          const peerKey = normaliseAddress(ep.address);
          if (!this.peers.has(peerKey)) this.peers.set(peerKey, { service, labels: ep.labels ?? {} });
          const k = key(ep.address, endpointPort(service, port, ep));
          const existing = this.byAddress.get(k);
          if (existing?.via === 'address') continue;
          if (existing !== undefined && existing.service !== service) {
            // Kubernetes allows one pod behind several services: the address alone cannot say which was meant.
            this.ambiguous.add(k);
            continue;
          }
          this.byAddress.set(k, { service, port, protocol, via: 'endpoint' });
        }
      }
    }
    for (const k of this.ambiguous) if (this.byAddress.get(k)?.via === 'endpoint') this.byAddress.delete(k);
  }

  service(host: string): ServiceConfig | undefined {
    return this.byHost.get(host);
  }

  get services(): IterableIterator<ServiceConfig> {
    return this.byHost.values();
  }

  /** The service port an original destination stands for, if any. */
  lookup(address: string, port: number): AddressMatch | undefined {
    return this.byAddress.get(key(address, port));
  }

  /** The service and labels of the endpoint at `address` (any port), if the registry knows one. */
  peer(address: string): { readonly service: ServiceConfig; readonly labels: Readonly<Record<string, string>> } | undefined {
    return this.peers.get(normaliseAddress(address));
  }

  /** Every address-keyed entry (admin views, listener generation), in insertion order. */
  entries(): IterableIterator<[string, AddressMatch]> {
    return this.byAddress.entries();
  }
}
