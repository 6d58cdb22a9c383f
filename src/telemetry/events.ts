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
  /** The service (destination) name when known, for Istio's destination_service label. */
  readonly destinationService?: string;
}

/** A connection on a captured port was refused before routing (not captured traffic, bad PROXY header…). */
export interface ListenerRefusedEvent {
  readonly listener: 'inbound' | 'outbound';
  readonly reason: string;
  readonly remote?: string;
}

export const channels = {
  tcpOpen: diagnostics_channel.channel('sidelane:tcp:open'),
  tcpClose: diagnostics_channel.channel('sidelane:tcp:close'),
  listenerRefused: diagnostics_channel.channel('sidelane:listener:refused'),
} as const;

export function publishTcpOpen(e: TcpOpenEvent): void {
  if (channels.tcpOpen.hasSubscribers) channels.tcpOpen.publish(e);
}
export function publishTcpClose(e: TcpCloseEvent): void {
  if (channels.tcpClose.hasSubscribers) channels.tcpClose.publish(e);
}
export function publishListenerRefused(e: ListenerRefusedEvent): void {
  if (channels.listenerRefused.hasSubscribers) channels.listenerRefused.publish(e);
}
