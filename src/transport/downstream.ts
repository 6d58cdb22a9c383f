/**
 * What the transport layer hands to routing for every accepted connection: the socket, where the workload meant
 * to go (original destination), who connected, how it was captured, and — for hooked connections — which process.
 */
import type net from 'node:net';
import type { ClientAddr, OrigDstAddr } from './address';

export type CaptureMethod = 'tproxy' | 'hook' | 'redirect';
export type Direction = 'inbound' | 'outbound';

/** The calling process, from the hook's PROXY v2 TLVs. */
export interface CallerIdentity {
  readonly pid: number;
  readonly uid: number;
  readonly comm: string;
}

export interface DownstreamConnection {
  readonly id: number;
  readonly socket: net.Socket;
  readonly direction: Direction;
  readonly capture: CaptureMethod;
  readonly origDst: OrigDstAddr;
  readonly client: ClientAddr;
  readonly caller?: CallerIdentity;
  /** Wall-clock start (ms since epoch). */
  readonly startedAt: number;
  /** Bytes already read from the socket (past a PROXY header) that belong to the application stream. */
  readonly initialData?: Buffer;
}

/** Routing's entry point: takes ownership of the connection (and must eventually close it). */
export interface ConnectionHandler {
  handle(connection: DownstreamConnection): void;
}

let nextId = 1;
/** Process-unique connection ids (for logs and admin views). */
export function nextConnectionId(): number {
  return nextId++;
}
