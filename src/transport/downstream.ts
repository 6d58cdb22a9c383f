/**
 * What the transport layer hands to routing for every accepted connection: where the workload meant to go
 * (original destination), who connected, how it was captured, which process (hooked connections) — and the
 * connection itself, either as a raw fd from the native acceptor (which the TCP proxy can hand to the native relay
 * without ever creating a net.Socket) or as a net.Socket (net.Server, or made from the fd on first use by the paths
 * that read bytes in JavaScript: HTTP, protocol sniffing, the JavaScript relay). The connection tells its tracker
 * (the listener: drain, active-connection gauge) exactly once that it is over, whichever form it had.
 */
import net from 'node:net';
import { addon } from '../native/addon';
import type { ClientAddr, OrigDstAddr } from './address';
import type { NativeRelay, NativeRelayRequest } from './native-relay';
import type { RelayResult } from './relay';

export type CaptureMethod = 'tproxy' | 'hook' | 'redirect';
export type Direction = 'inbound' | 'outbound';

/** The calling process, from the hook's PROXY v2 TLVs. */
export interface CallerIdentity {
  readonly pid: number;
  readonly uid: number;
  readonly comm: string;
}

/** Told once when a connection is over (closed, reset, relay finished); the listener's open-connection set. */
export interface ConnectionTracker {
  released(conn: DownstreamConnection): void;
}

export interface DownstreamInit {
  /** The connection: a raw connected non-blocking fd (now owned by the DownstreamConnection) or a net.Socket. */
  readonly transport: number | net.Socket;
  readonly direction: Direction;
  readonly capture: CaptureMethod;
  readonly origDst: OrigDstAddr;
  readonly client: ClientAddr;
  readonly caller?: CallerIdentity | undefined;
  /** Bytes already read from the connection (past a PROXY header) that belong to the application stream. */
  readonly initialData?: Buffer | undefined;
}

const kConnection = Symbol('sidelane.downstream');
type TaggedSocket = net.Socket & { [kConnection]?: DownstreamConnection };

const enum State {
  /** Holds its raw fd (native acceptor), no socket yet. */
  Fd,
  /** A net.Socket owns the fd; over when it closes. */
  Socket,
  /** Handed to the native relay; over when the relay completes. */
  Relayed,
  Over,
}

let nextId = 1;

export class DownstreamConnection {
  /** Process-unique (logs, admin views). */
  readonly id = nextId++;
  /** Wall-clock start (ms since epoch). */
  readonly startedAt = Date.now();
  readonly direction: Direction;
  readonly capture: CaptureMethod;
  readonly origDst: OrigDstAddr;
  readonly client: ClientAddr;
  readonly caller: CallerIdentity | undefined;
  /** Bytes already read that belong to the application stream (PROXY header remainder, sniffed bytes). */
  initialData: Buffer | undefined;
  /** Set by abort() (drain deadline): whoever holds the connection while it waits (upstream connect) gives up. */
  aborted = false;
  /** What the connection's holder is doing with it (upstream connect, JavaScript relay); abort() cancels it. */
  pending: { cancel(): void } | undefined = undefined;

  private state: State;
  private fd: number;
  private sock: net.Socket | undefined;
  private relay: NativeRelay | undefined;
  private relayId = 0;
  private relayContext: unknown;
  private relayDone: ((result: RelayResult, context: unknown) => void) | undefined;

  constructor(
    init: DownstreamInit,
    private readonly tracker?: ConnectionTracker,
  ) {
    this.direction = init.direction;
    this.capture = init.capture;
    this.origDst = init.origDst;
    this.client = init.client;
    this.caller = init.caller;
    this.initialData = init.initialData;
    if (typeof init.transport === 'number') {
      this.fd = init.transport;
      this.state = State.Fd;
    } else {
      this.fd = -1;
      this.state = State.Socket;
      this.adopt(init.transport);
    }
  }

  /** The raw fd while the connection has no socket and was not handed over (-1 otherwise): for the native relay. */
  get rawFd(): number {
    return this.state === State.Fd ? this.fd : -1;
  }

  /** True once the connection is over (closed, reset, relay done). */
  get closed(): boolean {
    return this.state === State.Over;
  }

  /**
   * The connection as a net.Socket (paused until someone reads), made from the raw fd on first use; from then on
   * the socket owns the fd and the connection is over when the socket closes.
   */
  socket(): net.Socket {
    if (this.sock !== undefined) return this.sock;
    if (this.state !== State.Fd) throw new Error(`downstream connection ${this.id} has no fd left to make a socket from`);
    const s = new net.Socket({ fd: this.fd, readable: true, writable: true, allowHalfOpen: true });
    s.pause();
    this.fd = -1;
    this.state = State.Socket;
    this.adopt(s);
    if (this.aborted) s.destroy();
    return s;
  }

  /**
   * Hands the raw fd and a connected upstream fd to the native relay, which owns both from now on; `onDone` runs
   * once with the result and `context`, after which the connection is over. Throws (both fds still the caller's)
   * when the relay refuses them.
   */
  relayNatively<C>(relay: NativeRelay, upFd: number, request: NativeRelayRequest, context: C, onDone: (result: RelayResult, context: C) => void): void {
    if (this.state !== State.Fd) throw new Error(`downstream connection ${this.id} cannot be relayed natively: it has no raw fd`);
    this.relayId = relay.start(this.fd, upFd, request, this, completeRelay);
    this.relay = relay;
    this.relayContext = context;
    this.relayDone = onDone as (result: RelayResult, context: unknown) => void;
    this.fd = -1;
    this.state = State.Relayed;
    if (this.aborted) relay.abort(this.relayId);
  }

  /** Refuses or abandons the connection with a reset (RST), whatever form it has. */
  reset(): void {
    switch (this.state) {
      case State.Fd:
        addon().resetFd(this.fd);
        this.fd = -1;
        this.release();
        return;
      case State.Socket:
        if (!this.sock!.destroyed) this.sock!.resetAndDestroy();
        return;
      case State.Relayed:
        this.relay!.abort(this.relayId);
        return;
      case State.Over:
        return;
    }
  }

  /**
   * Ends the connection now (the drain deadline): its holder's pending work (upstream connect, JavaScript relay) is
   * cancelled, a socket destroyed, a native relay aborted (both sides reset).
   */
  abort(): void {
    this.aborted = true;
    this.pending?.cancel();
    if (this.state === State.Socket) this.sock!.destroy();
    else if (this.state === State.Relayed) this.relay!.abort(this.relayId);
  }

  private adopt(s: net.Socket): void {
    this.sock = s;
    (s as TaggedSocket)[kConnection] = this;
    s.on('error', ignoreError);
    s.once('close', onSocketClose);
    if (s.closed) this.release(); // closed before it was handed over: nothing will follow
  }

  /** @internal the connection is over. */
  release(): void {
    if (this.state === State.Over) return;
    this.state = State.Over;
    this.tracker?.released(this);
  }

  /** @internal the native relay finished: the connection is over, then its owner hears the result. */
  relayed(result: RelayResult): void {
    this.release();
    const done = this.relayDone!;
    const context = this.relayContext;
    this.relayDone = this.relayContext = undefined;
    done(result, context);
  }
}

// Module-level handlers (`this` is the emitter, the context travels with the relay): no closure per connection.
function onSocketClose(this: TaggedSocket): void {
  this[kConnection]?.release();
}
function ignoreError(): void {}
function completeRelay(result: RelayResult, conn: DownstreamConnection): void {
  conn.relayed(result);
}

/** Routing's entry point: takes ownership of the connection (and must eventually close it). */
export interface ConnectionHandler {
  handle(connection: DownstreamConnection): void;
}
