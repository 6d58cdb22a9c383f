/**
 * Port protocols: the names a mesh user writes (Istio's list) and what sidelane does with each — route every HTTP/1.1
 * request (HTTP), proxy bytes (TCP and the TCP-ish names), or sniff the first bytes (AUTO).
 */

/** What the data path does on a port. */
export type EffectiveProtocol = 'HTTP' | 'TCP' | 'AUTO';

/**
 * Istio's protocol names. HTTP/2 and gRPC are carried as opaque TCP (sidelane's connection manager speaks HTTP/1.1);
 * TLS and HTTPS are TCP too (the bytes are encrypted end to end).
 */
const PROTOCOLS: Readonly<Record<string, EffectiveProtocol>> = {
  HTTP: 'HTTP',
  AUTO: 'AUTO',
  TCP: 'TCP',
  TLS: 'TCP',
  HTTPS: 'TCP',
  HTTP2: 'TCP',
  GRPC: 'TCP',
  'GRPC-WEB': 'TCP',
  MYSQL: 'TCP',
  MONGO: 'TCP',
  REDIS: 'TCP',
};

export const PROTOCOL_NAMES: readonly string[] = Object.keys(PROTOCOLS);

export function isProtocolName(name: string): boolean {
  return Object.hasOwn(PROTOCOLS, name.toUpperCase());
}

export interface ResolvedProtocol {
  /** The protocol name shown in admin views (upper case, as declared or derived). */
  readonly declared: string;
  readonly effective: EffectiveProtocol;
}

/**
 * A port's protocol: the declared `protocol` if any, else the port name's prefix (`http-web`, `mysql`, `grpc-api` —
 * Istio's naming convention), else AUTO (sniffed).
 */
export function resolveProtocol(protocol: string | undefined, portName: string | undefined): ResolvedProtocol {
  if (protocol !== undefined) {
    const declared = protocol.toUpperCase();
    return { declared, effective: PROTOCOLS[declared] ?? 'TCP' };
  }
  if (portName !== undefined) {
    const lower = portName.toLowerCase();
    // Longest names first so `grpc-web-x` is GRPC-WEB, not GRPC.
    const byLength = [...PROTOCOL_NAMES].sort((a, b) => b.length - a.length);
    for (const name of byLength) {
      const n = name.toLowerCase();
      if (lower === n || lower.startsWith(`${n}-`)) return { declared: name, effective: PROTOCOLS[name]! };
    }
  }
  return { declared: 'AUTO', effective: 'AUTO' };
}
