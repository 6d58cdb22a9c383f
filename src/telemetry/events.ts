/**
 * The data path's events. Hot-path code only publishes on these diagnostics channels (cheap when nobody
 * listens); metrics, access logs and admin views subscribe (STYLE.md habit 6).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { DownstreamConnection } from '../transport/downstream';
import type { RelayEnd } from '../transport/relay';

/** A TCP connection was accepted and routed (before the upstream connect). */
export interface TcpOpenEvent {
  readonly conn: DownstreamConnection;
  readonly cluster: string;
  /** As in TcpCloseEvent, so a connection's open and close carry the same labels. */
  readonly destinationService?: string;
  readonly upstreamLabels?: Readonly<Record<string, string>>;
}

/** A proxied TCP connection ended (or never reached an upstream). */
export interface TcpCloseEvent {
  readonly conn: DownstreamConnection;
  readonly cluster: string;
  /** The endpoint actually used, `ip:port`; absent when no connection was made. */
  readonly upstreamHost?: string;
  readonly bytesReceived: number; // from downstream
  readonly bytesSent: number; // to downstream
  readonly durationMs: number;
  /** Envoy response flags: '-' none, UF upstream connect failure, UH no healthy upstream, UO overflow, … */
  readonly responseFlags: string;
  readonly end: RelayEnd | 'upstream_connect_failure' | 'refused';
  /** Why the upstream connect failed (errno name: ECONNREFUSED, ETIMEDOUT, EADDRNOTAVAIL…); only with that end. */
  readonly upstreamFailureReason?: string;
  /** The service (destination) name when known, for Istio's destination_service label. */
  readonly destinationService?: string;
  /** Labels of the endpoint connected to (app, version…), for destination_* labels on the client side. */
  readonly upstreamLabels?: Readonly<Record<string, string>>;
}

/** A connection was accepted on a captured listener and handed to routing (capture path metrics). */
export interface ConnectionAcceptedEvent {
  readonly direction: 'inbound' | 'outbound';
  readonly capture: 'tproxy' | 'hook' | 'redirect';
}

/** Who this proxy is, for Istio's source_* (outbound) and destination_* (inbound) labels; from the config's workload. */
export interface WorkloadIdentity {
  readonly name?: string;
  readonly namespace?: string;
  readonly serviceAccount?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * One HTTP request finished (response complete, reset, or the client left). Published by the connection manager
 * after the last byte; everything Istio's standard metrics and an Envoy-style access log need.
 */
export interface HttpRequestEvent {
  readonly conn: DownstreamConnection;
  /** Istio's reporter: `source` for outbound (this proxy is the client's sidecar), `destination` for inbound. */
  readonly reporter: 'source' | 'destination';
  /** This proxy's workload (source for outbound, destination for inbound). */
  readonly workload?: WorkloadIdentity;
  readonly requestId: string;
  readonly method: string;
  readonly authority: string;
  /** Path and query as received. */
  readonly path: string;
  readonly protocol: string;
  readonly userAgent?: string;
  readonly forwardedFor?: string;
  /** Status sent downstream; 0 when none was (the client left first). */
  readonly responseCode: number;
  /** Envoy response flags, e.g. `-`, `UH`, `UF,URX`. */
  readonly responseFlags: string;
  /** Why the proxy answered itself, Envoy's response_code_details style (`via_upstream`, `route_not_found`, …). */
  readonly responseCodeDetails: string;
  readonly routeName?: string;
  readonly virtualHost?: string;
  readonly cluster?: string;
  /** The destination service host (outbound) — Istio's destination_service. */
  readonly destinationService?: string;
  readonly destinationSubset?: string;
  /** Labels of the endpoint that answered (app, version…), for destination_* labels on the client side. */
  readonly upstreamLabels?: Readonly<Record<string, string>>;
  /** `ip:port` of the endpoint that answered last. */
  readonly upstreamHost?: string;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** From the request's arrival to the last response byte. */
  readonly durationMs: number;
  /** Upstream time to response headers of the final attempt (x-envoy-upstream-service-time). */
  readonly upstreamServiceTimeMs?: number;
  /** Attempts made upstream (1 + retries); 0 when none was made. */
  readonly attempts: number;
  /** Wall-clock start, ms since epoch. */
  readonly startTime: number;
}

/** A connection on a captured port was refused before routing (not captured traffic, bad PROXY header…). */
export interface ListenerRefusedEvent {
  readonly listener: 'inbound' | 'outbound';
  readonly reason: string;
  readonly remote?: string;
  /** Connections this event stands for (fd exhaustion reports refusals in bulk); 1 when absent. */
  readonly count?: number;
}

/**
 * The process (EMFILE) or the system (ENFILE, ENOBUFS, ENOMEM) had no file descriptor left for a new connection:
 * accepting a downstream connection or opening an upstream one failed. Reported per failure or, by a native
 * acceptor, per batch (`refused`).
 */
export interface FdExhaustedEvent {
  readonly where: 'accept' | 'connect';
  readonly code: string;
  /** Connections refused because of it. */
  readonly refused: number;
  readonly listener?: 'inbound' | 'outbound';
}

/** errno names that mean "no descriptor (or socket memory) left", as opposed to a failure of one connection. */
export const FD_EXHAUSTION_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

export const channels = {
  tcpOpen: diagnostics_channel.channel('sidelane:tcp:open'),
  tcpClose: diagnostics_channel.channel('sidelane:tcp:close'),
  listenerRefused: diagnostics_channel.channel('sidelane:listener:refused'),
  connectionAccepted: diagnostics_channel.channel('sidelane:listener:accepted'),
  httpRequest: diagnostics_channel.channel('sidelane:http:request'),
  configReload: diagnostics_channel.channel('sidelane:config:reload'),
  fdExhausted: diagnostics_channel.channel('sidelane:fd:exhausted'),
} as const;

/** A configuration was applied or refused (start-up, SIGHUP, file change). */
export interface ConfigReloadEvent {
  readonly ok: boolean;
  readonly version: number;
  readonly source: string;
  readonly trigger: 'startup' | 'signal' | 'file' | 'admin';
  readonly error?: string;
}

export function publishHttpRequest(e: HttpRequestEvent): void {
  if (channels.httpRequest.hasSubscribers) channels.httpRequest.publish(e);
}
export function publishConfigReload(e: ConfigReloadEvent): void {
  if (channels.configReload.hasSubscribers) channels.configReload.publish(e);
}

export function publishTcpOpen(e: TcpOpenEvent): void {
  if (channels.tcpOpen.hasSubscribers) channels.tcpOpen.publish(e);
}
export function publishTcpClose(e: TcpCloseEvent): void {
  if (channels.tcpClose.hasSubscribers) channels.tcpClose.publish(e);
}
export function publishListenerRefused(e: ListenerRefusedEvent): void {
  if (channels.listenerRefused.hasSubscribers) channels.listenerRefused.publish(e);
}

export function publishFdExhausted(e: FdExhaustedEvent): void {
  if (channels.fdExhausted.hasSubscribers) channels.fdExhausted.publish(e);
}

export function publishConnectionAccepted(e: ConnectionAcceptedEvent): void {
  if (channels.connectionAccepted.hasSubscribers) channels.connectionAccepted.publish(e);
}
