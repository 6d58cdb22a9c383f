/**
 * The native relay's TypeScript face: hands two connected socket fds to native threads (splice through pooled
 * pipes, off the JavaScript thread) and gets back the same RelayResult as the JavaScript relay (relay.ts), so
 * metrics and logs do not care which one moved the bytes. One engine per process (per JS environment).
 */
import { addon as loadAddon, RELAY_COMPLETION_FIELDS, type RelayEngineStats, type SidelaneAddon } from '../native/addon';
import { UsageError } from '../errors';
import type { RelayEnd, RelayResult } from './relay';

/** Index = the end code native/addon/relay.cc reports. */
export const RELAY_END_CODES: readonly RelayEnd[] = [
  'closed',
  'downstream_reset',
  'upstream_reset',
  'idle_timeout',
  'downstream_error',
  'upstream_error',
  'aborted',
];

export interface NativeRelayOptions {
  /** Worker threads running relays (default 1). */
  readonly threads?: number;
  /** Pipe capacity in bytes, 4096..1048576 (0 = kernel default, 64 KiB): the per-direction buffering bound. */
  readonly pipeSize?: number;
  /**
   * Capacity a pipe grows to while a bulk transfer keeps filling it, 0 (never) or pipeSize..1048576 (default
   * 262144, or 0 when pipeSize is at least that): fewer, larger splices per GB. Shrunk back when the transfer pauses, so idle connections and the pool keep
   * pipeSize.
   */
  readonly bulkPipeSize?: number;
  /** Empty pipes each thread keeps for reuse (default 256). */
  readonly pipePoolMax?: number;
  /** Copy through a 16 KiB buffer instead of splicing (the fallback path; for tests and odd kernels). */
  readonly copyMode?: boolean;
  /**
   * Splice every direction from its first byte. By default (false) small transfers are copied through a pooled
   * 16 KiB buffer and a direction switches to splice once one read fills that buffer (HAProxy's splice-auto).
   */
  readonly spliceAlways?: boolean;
}

export interface NativeRelayRequest {
  /** Close both sides when no byte moved in either direction for this long (0 = never). */
  readonly idleTimeoutMs?: number;
  /** Bytes already read from downstream (past a PROXY header or sniffing); sent upstream first and counted. */
  readonly initialUp?: Buffer;
  /**
   * Both fds are open non-blocking sockets, as the native acceptor's and connector's are: the relay does not check
   * (and set) O_NONBLOCK — two fcntl calls less per connection. A bad fd then ends the relay as an error instead of
   * throwing. Default false.
   */
  readonly nonBlocking?: boolean;
  /** Aborts the relay (both sides reset). */
  readonly signal?: AbortSignal;
}

export interface NativeRelayStats extends RelayEngineStats {
  /** Completion batches delivered to JavaScript (each covers one or more relays). */
  readonly batches: number;
}

type Done<C> = (result: RelayResult, context: C) => void;

interface Waiting {
  readonly done: Done<unknown>;
  readonly context: unknown;
}

const MAX_IDLE_MS = 2 ** 32 - 1;
/** 256 KiB: in `sidelane bench` bulk-1 the relay's CPU per GB fell by about a quarter against 64 KiB (1 MiB: no better). */
export const DEFAULT_BULK_PIPE_SIZE = 256 * 1024;

function checkFd(fd: number, what: string): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1) {
    throw new UsageError(`native relay: ${what} must be an open file descriptor (a non-negative integer), got ${String(fd)}`);
  }
}

function checkInt(value: number | undefined, what: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`native relay: ${what} must be an integer ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

let running: NativeRelay | undefined;

export class NativeRelay {
  private readonly waiting = new Map<number, Waiting>();
  private readonly native: SidelaneAddon;
  private batches = 0;
  private closed = false;

  constructor(options: NativeRelayOptions = {}, native?: SidelaneAddon) {
    const threads = checkInt(options.threads, 'threads', 1, 64) ?? 1;
    const pipeSize = checkInt(options.pipeSize, 'pipeSize', 0, 1 << 20) ?? 0;
    if (pipeSize !== 0 && pipeSize < 4096) throw new UsageError(`native relay: pipeSize must be 0 or at least 4096, got ${pipeSize}`);
    const bulkPipeSize = checkInt(options.bulkPipeSize, 'bulkPipeSize', 0, 1 << 20) ?? (pipeSize >= DEFAULT_BULK_PIPE_SIZE ? 0 : DEFAULT_BULK_PIPE_SIZE);
    if (bulkPipeSize !== 0 && bulkPipeSize < Math.max(pipeSize, 4096)) {
      throw new UsageError(`native relay: bulkPipeSize must be 0 or at least pipeSize (and 4096), got ${bulkPipeSize}`);
    }
    const pipePoolMax = checkInt(options.pipePoolMax, 'pipePoolMax', 0, 65536) ?? 256;
    if (running) {
      throw new UsageError('native relay: an engine is already running in this process; share it or close() it first');
    }
    this.native = native ?? loadAddon();
    this.native.relayStart({ threads, pipeSize, bulkPipeSize, pipePoolMax, copyMode: options.copyMode ?? false, spliceAlways: options.spliceAlways ?? false }, (c) => this.complete(c));
    running = this;
  }

  /**
   * Starts relaying; the native side owns both fds from now on (it closes them). `onDone(result, context)` runs
   * once, with the caller's context — one shared function for every connection, no closure per connection.
   * Returns the relay id (for abort). Throws, leaving the fds to the caller, if they are not usable.
   */
  start<C>(downFd: number, upFd: number, request: NativeRelayRequest, context: C, onDone: Done<C>): number {
    if (this.closed) throw new UsageError('native relay: start() after close()');
    checkFd(downFd, 'downFd');
    checkFd(upFd, 'upFd');
    if (downFd === upFd) throw new UsageError(`native relay: downFd and upFd must differ (both ${downFd})`);
    const idle = checkInt(request.idleTimeoutMs, 'idleTimeoutMs', 0, MAX_IDLE_MS) ?? 0;
    if (request.initialUp !== undefined && !Buffer.isBuffer(request.initialUp)) {
      throw new UsageError('native relay: initialUp must be a Buffer');
    }
    const id = this.native.relayAdd(downFd, upFd, idle, request.initialUp, request.nonBlocking === true ? 1 : 0);
    this.waiting.set(id, { done: onDone as Done<unknown>, context });
    const { signal } = request;
    if (signal) {
      if (signal.aborted) this.abort(id);
      else signal.addEventListener('abort', () => this.abort(id), { once: true });
    }
    return id;
  }

  /** Relays until both directions are closed; never rejects once started. */
  relay(downFd: number, upFd: number, request: NativeRelayRequest = {}): Promise<RelayResult> {
    return new Promise<RelayResult>((resolve) => {
      this.start(downFd, upFd, request, resolve, settle);
    });
  }

  /** Resets both sides of a running relay; its completion reports 'aborted'. False if it is not running. */
  abort(id: number): boolean {
    if (!this.waiting.has(id)) return false;
    this.native.relayAbort(id);
    return true;
  }

  /** Relays handed over whose completion has not been delivered yet. */
  get active(): number {
    return this.waiting.size;
  }

  stats(): NativeRelayStats {
    return { ...this.native.relayStats(), batches: this.batches };
  }

  /** Stops the engine (joins its threads): running relays are reset and complete as 'aborted'. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const left = this.native.relayStop();
    if (running === this) running = undefined;
    this.complete(left);
    // Anything not reported (cannot happen unless the engine was torn down underneath) still settles.
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.done({ bytesUp: 0, bytesDown: 0, end: 'aborted', durationMs: 0 }, w.context);
    }
  }

  private complete(c: Float64Array): void {
    if (c.length === 0) return;
    this.batches += 1;
    for (let i = 0; i < c.length; i += RELAY_COMPLETION_FIELDS) {
      const id = c[i]!;
      const w = this.waiting.get(id);
      if (!w) continue;
      this.waiting.delete(id);
      const result: RelayResult = {
        bytesUp: c[i + 1]!,
        bytesDown: c[i + 2]!,
        end: RELAY_END_CODES[c[i + 3]!] ?? 'upstream_error',
        durationMs: c[i + 4]!,
      };
      try {
        w.done(result, w.context);
      } catch (err) {
        // One faulty consumer must not keep the rest of the batch from being delivered.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

function settle(result: RelayResult, resolve: unknown): void {
  (resolve as (r: RelayResult) => void)(result);
}
