/**
 * The native acceptor's TypeScript face: accepts on a listening fd in batches (no net.Socket per connection) and
 * emits each connection as raw fd + addresses, with SO_ORIGINAL_DST and a framed PROXY v2 header when asked;
 * at the fd limit it refuses cleanly, reports at most once per interval, and recovers by itself.
 */
import { EventEmitter } from 'node:events';
import {
  ACCEPT_META_FIELDS,
  addon as loadAddon,
  type AcceptorExhaustionInfo,
  type AcceptorNativeStats,
  type SidelaneAddon,
} from '../native/addon';
import { UsageError } from '../errors';
import type { Family, SocketAddress } from './address';
import { DEFAULT_MAX_HEADER_BYTES } from './proxy-protocol';

/** Index = the header status native/addon/acceptor.cc reports. */
export const HEADER_STATUSES = ['none', 'complete', 'pending', 'malformed', 'oversized', 'closed', 'timeout'] as const;
export type HeaderStatus = (typeof HEADER_STATUSES)[number];

/**
 * What native framing found. `complete`: the header's bytes (consumed from the socket, to be decoded by the
 * PROXY v2 codec). `pending`: not all there at accept time, nothing consumed — read it with a deadline (only when
 * headerWaitMs is 0). `timeout`: still incomplete after headerWaitMs, nothing consumed.
 * `malformed` / `oversized` / `closed` / `timeout`: refuse the connection.
 */
export type ProxyHeaderFraming =
  | { readonly status: 'complete'; readonly bytes: Buffer }
  | { readonly status: 'pending' | 'malformed' | 'oversized' | 'closed' | 'timeout' };

export interface AcceptedConnection {
  /** Non-blocking, close-on-exec; the listener's owner must close it (or hand it to the native relay). */
  readonly fd: number;
  readonly family: Family;
  /** The accepted socket's local address (under TPROXY: the original destination). v4-mapped shown as v4. */
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  /** SO_ORIGINAL_DST (REDIRECT baseline), when asked for and present. */
  readonly origDst?: SocketAddress | undefined;
  /** Present when header framing applied to this connection. */
  readonly proxyHeader?: ProxyHeaderFraming | undefined;
}

export interface NativeAcceptorOptions {
  /** Connections accepted per wake-up (and per call into JS), 1..4096; default 64. */
  readonly batch?: number;
  /** Read SO_ORIGINAL_DST for each connection (the REDIRECT baseline). */
  readonly originalDst?: boolean;
  /** Frame a PROXY v2 header: never, only when the local address is loopback (hooked connections), always. */
  readonly proxyHeader?: 'none' | 'loopback' | 'always';
  /**
   * Largest header accepted (16-byte fixed part + its declared length), 16..65551; default the PROXY v2 codec's
   * DEFAULT_MAX_HEADER_BYTES (1024), so framing and decoding agree on what is oversized.
   */
  readonly maxHeaderBytes?: number;
  /**
   * With header framing: how long to wait natively for a header that is not complete at accept time (the hook
   * writes it just after the handshake, so it can trail the accept by microseconds). The connection is delivered
   * once it is complete (or malformed, closed, or the wait ran out: `timeout`). 0 (default): deliver at once as
   * `pending` and let JavaScript read it. 0..60000.
   */
  readonly headerWaitMs?: number;
  /** Pause after hitting the fd limit, ms; default 100. */
  readonly backoffMs?: number;
  /** At most one 'exhausted' event per interval, ms; default 1000. */
  readonly reportIntervalMs?: number;
  /** TCP_NODELAY on accepted sockets; default true. */
  readonly noDelay?: boolean;
}

export interface NativeAcceptorStats extends AcceptorNativeStats {
  readonly batches: number;
}

const HEADER_MODES = { none: 0, loopback: 1, always: 2 } as const;

class Accepted implements AcceptedConnection {
  constructor(
    readonly fd: number,
    readonly family: Family,
    readonly local: SocketAddress,
    readonly remote: SocketAddress,
    readonly origDst: SocketAddress | undefined,
    readonly proxyHeader: ProxyHeaderFraming | undefined,
  ) {}
}

function intOption(value: number | undefined, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`native acceptor: ${what} must be an integer ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Events: 'connection' (AcceptedConnection), 'batch' (how many connections one call from native delivered, emitted
 * before them), 'exhausted' (AcceptorExhaustionInfo — at most once per interval).
 * The listening fd stays the caller's: stop() before closing it.
 */
export class NativeAcceptor extends EventEmitter {
  private id = 0;
  private batches = 0;
  private readonly native: SidelaneAddon;
  private readonly settings: {
    batch: number;
    originalDst: boolean;
    proxyHeader: 0 | 1 | 2;
    maxHeader: number;
    headerWaitMs: number;
    backoffMs: number;
    reportIntervalMs: number;
    noDelay: boolean;
  };

  constructor(
    private readonly listenFd: number,
    options: NativeAcceptorOptions = {},
    native?: SidelaneAddon,
  ) {
    super();
    if (!Number.isInteger(listenFd) || listenFd < 0) {
      throw new UsageError(`native acceptor: listenFd must be a listening socket's fd, got ${String(listenFd)}`);
    }
    const mode = options.proxyHeader ?? 'none';
    if (!(mode in HEADER_MODES)) {
      throw new UsageError(`native acceptor: proxyHeader must be none, loopback or always, got ${String(mode)}`);
    }
    this.settings = {
      batch: intOption(options.batch, 'batch', 1, 4096, 64),
      originalDst: options.originalDst ?? false,
      proxyHeader: HEADER_MODES[mode],
      maxHeader: intOption(options.maxHeaderBytes, 'maxHeaderBytes', 16, 65551, DEFAULT_MAX_HEADER_BYTES),
      headerWaitMs: intOption(options.headerWaitMs, 'headerWaitMs', 0, 60_000, 0),
      backoffMs: intOption(options.backoffMs, 'backoffMs', 1, 60_000, 100),
      reportIntervalMs: intOption(options.reportIntervalMs, 'reportIntervalMs', 1, 3_600_000, 1000),
      noDelay: options.noDelay ?? true,
    };
    this.native = native ?? loadAddon();
  }

  /** Starts accepting (throws a SystemError if the fd is not a listening socket). */
  start(): void {
    if (this.id !== 0) return;
    this.id = this.native.acceptorStart(
      this.listenFd,
      this.settings,
      (_id, count, meta, addresses, headers) => this.onBatch(count, meta, addresses, headers),
      (_id, info) => this.emit('exhausted', info),
    );
  }

  /** Stops accepting; connections already emitted are unaffected. */
  stop(): void {
    if (this.id === 0) return;
    this.native.acceptorStop(this.id);
    this.id = 0;
  }

  /**
   * From now on deliver connections at once, without PROXY v2 framing or its wait (a draining listener refuses every
   * new connection and must not hold a silent client for the header deadline first).
   */
  stopFraming(): void {
    if (this.id !== 0) this.native.acceptorNoFraming(this.id);
  }

  /**
   * Stops listening for good, losing nothing the kernel already queued: every connection waiting in the accept
   * queue is accepted and emitted as usual, and the listening fd is closed right after the last accept — the port
   * refuses from then on (a hooked connect gets ECONNREFUSED). The fd is closed here: the caller must not close it.
   * Connections waiting for their PROXY header are emitted when it completes; stop() drops them. Returns how many
   * connections the queue held.
   */
  shutdown(): number {
    if (this.id === 0 || this.listenerClosed) return 0;
    this.listenerClosed = true;
    return this.native.acceptorShutdown(this.id);
  }

  /** True once shutdown() closed the listening fd. */
  listenerClosed = false;

  get running(): boolean {
    return this.id !== 0;
  }

  stats(): NativeAcceptorStats {
    const s = this.id !== 0 ? this.native.acceptorStats(this.id) : undefined;
    return { accepted: 0, refused: 0, exhaustions: 0, paused: false, reserveFd: false, parked: 0, listening: false, ...s, batches: this.batches };
  }

  private onBatch(count: number, meta: Int32Array, addresses: string[], headers: Buffer | undefined): void {
    this.batches += 1;
    this.emit('batch', count);
    let headerOffset = 0;
    for (let i = 0; i < count; i++) {
      const m = i * ACCEPT_META_FIELDS;
      const a = i * 3;
      const family = meta[m + 1] as Family;
      const origPort = meta[m + 4]!;
      const status = HEADER_STATUSES[meta[m + 6]!] ?? 'malformed';
      let proxyHeader: ProxyHeaderFraming | undefined;
      if (status === 'complete') {
        const length = meta[m + 7]!;
        // subarray: a view into the batch's buffer, no copy per connection.
        proxyHeader = { status, bytes: headers!.subarray(headerOffset, headerOffset + length) };
        headerOffset += length;
      } else if (status !== 'none') {
        proxyHeader = { status };
      }
      const local: SocketAddress = { address: addresses[a]!, port: meta[m + 2]!, family };
      const remote: SocketAddress = { address: addresses[a + 1]!, port: meta[m + 3]!, family };
      const orig: SocketAddress | undefined = origPort >= 0 ? { address: addresses[a + 2]!, port: origPort, family: meta[m + 5] as Family } : undefined;
      // One fixed-shape object per connection (no spread of optional parts).
      const conn = new Accepted(meta[m]!, family, local, remote, orig, proxyHeader);
      try {
        this.emit('connection', conn);
      } catch (err) {
        // A throwing handler must not strand the rest of the batch (their fds would leak).
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

export type { AcceptorExhaustionInfo };
