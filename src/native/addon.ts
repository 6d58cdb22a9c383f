/**
 * Locates and loads the native addon (build/Release/sidelane_addon.node) and describes its surface. Callers use
 * the typed wrappers in this module; arguments are validated here before they cross into C++ (which only executes).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SidelaneError, SystemError } from '../errors';

export interface NativeAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

export interface ListenOptions {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly transparent: boolean;
  readonly reusePort: boolean;
  readonly mark?: number;
  readonly backlog?: number;
  readonly v6Only?: boolean;
}

export interface ConnectOptions {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly sourceAddress?: string;
  readonly sourcePort?: number;
  /** With sourceAddress and no sourcePort: choose the port from [sourcePortMin, sourcePortMax], retrying clashes. */
  readonly sourcePortMin?: number;
  readonly sourcePortMax?: number;
  readonly transparent?: boolean;
  readonly mark?: number;
  readonly noDelay?: boolean;
}

export interface ConnectStart {
  /** -1 when the connect failed at once. */
  readonly fd: number;
  /** 0 connected, EINPROGRESS (115) pending, anything else failed. */
  readonly errno: number;
  readonly code?: string;
}

export interface NftResult {
  readonly ok: boolean;
  readonly output: string;
  readonly error: string;
}

/** Native relay engine settings (validated by src/transport/native-relay.ts). */
export interface RelayEngineOptions {
  readonly threads: number;
  /** Pipe capacity in bytes (F_SETPIPE_SZ); 0 keeps the kernel default (64 KiB). */
  readonly pipeSize: number;
  /** Capacity a pipe grows to while a bulk transfer fills it (0: never grow). */
  readonly bulkPipeSize: number;
  /** Empty pipes kept per worker thread for reuse. */
  readonly pipePoolMax: number;
  /** Force read/write through a buffer instead of splice (the fallback path). */
  readonly copyMode: boolean;
  /** Splice from the first byte instead of copying until a read fills the 16 KiB buffer. */
  readonly spliceAlways: boolean;
}

export interface RelayEngineStats {
  readonly threads: number;
  readonly active: number;
  readonly pipesInUse: number;
  readonly pipesPooled: number;
  readonly buffersInUse: number;
  readonly started: number;
  readonly completed: number;
  readonly copyFallbacks: number;
  /** Directions switched from copying to splice because one read filled the copy buffer (bulk transfers). */
  readonly splicedDirections: number;
  /** Pipes grown to bulkPipeSize so far (each time a bulk transfer filled one). */
  readonly pipesGrown: number;
  /** Grown pipes attached right now (shrunk back when their transfer pauses or ends). */
  readonly bulkPipesInUse: number;
}

/**
 * Completions arrive as one Float64Array per batch, RELAY_COMPLETION_FIELDS numbers per relay:
 * id, bytesUp, bytesDown, end (index into RELAY_END_CODES of src/transport/native-relay.ts), durationMs.
 */
export const RELAY_COMPLETION_FIELDS = 5;

/** Native acceptor settings (validated by src/transport/native-acceptor.ts). */
export interface AcceptorNativeOptions {
  readonly batch: number;
  readonly originalDst: boolean;
  /** 0 none, 1 only when the local address is loopback (hooked connections), 2 always. */
  readonly proxyHeader: 0 | 1 | 2;
  readonly maxHeader: number;
  /** 0: report an incomplete header as pending at once; else wait natively up to this long. */
  readonly headerWaitMs: number;
  readonly backoffMs: number;
  readonly reportIntervalMs: number;
  readonly noDelay: boolean;
}

export interface AcceptorExhaustionInfo {
  /** Connections refused (reset) since the last report. */
  readonly refused: number;
  /** Times accept() hit the fd limit since the last report. */
  readonly exhaustions: number;
  readonly refusedTotal: number;
  /** EMFILE, ENFILE, ENOBUFS or ENOMEM. */
  readonly code: string;
}

export interface AcceptorNativeStats {
  readonly accepted: number;
  readonly refused: number;
  readonly exhaustions: number;
  readonly paused: boolean;
  readonly reserveFd: boolean;
  /** Connections accepted and waiting (natively) for the rest of their PROXY v2 header. */
  readonly parked: number;
  /** False after acceptorShutdown closed the listening fd. */
  readonly listening: boolean;
}

/**
 * Accepted connections arrive in batches: `meta` holds ACCEPT_META_FIELDS int32 per connection
 * (fd, family, localPort, remotePort, origDstPort or -1, origDstFamily, header status, header length),
 * `addresses` 3 strings per connection (local, remote, original destination or ''), `headers` the complete
 * PROXY v2 headers concatenated in order (undefined when none).
 */
export const ACCEPT_META_FIELDS = 8;

/** Arguments of reduceAndExec (validated and planned by src/sidecar/privileges.ts). */
export interface ReduceAndExecOptions {
  readonly uid: number;
  readonly gid: number;
  /** Drop every supplementary group (when switching to a user, as `--user` does). */
  readonly clearGroups: boolean;
  /** Capability bits kept in the permitted, effective, inheritable and ambient sets (and the bounding set). */
  readonly keep: bigint;
  readonly dropBounding: boolean;
  readonly file: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
}

/** The raw addon; see native/addon/*.cc. */
export interface SidelaneAddon {
  setErrorClass(cls: new (message: string, props: never) => Error): void;
  listen(options: ListenOptions): number;
  connect(options: ConnectOptions): ConnectStart;
  /**
   * connect() for the hot path: positional arguments, a number back. n >= 0: fd n >> 1, still connecting when
   * n & 1 (completion through the connect callback); n < 0: failed with errno -n. flags: 1 transparent, 2 TCP_NODELAY.
   */
  connectTo(
    family: 4 | 6,
    address: string,
    port: number,
    sourceAddress: string | null,
    sourcePort: number,
    sourcePortMin: number,
    sourcePortMax: number,
    flags: number,
    mark: number,
  ): number;
  setConnectCallback(cb: (fd: number, errno: number) => void): void;
  cancelConnect(fd: number): boolean;
  pendingConnects(): number;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  getOriginalDst(fd: number, family: 4 | 6): NativeAddress;
  getCookie(fd: number): bigint;
  localAddress(fd: number): NativeAddress;
  closeFd(fd: number): void;
  /** Closes with SO_LINGER {1, 0}: the peer gets a RST. */
  resetFd(fd: number): void;
  /** True when the peer reset the connection (peeks, consumes nothing; a FIN is not a reset). */
  peerReset(fd: number): boolean;
  relayStart(options: RelayEngineOptions, onComplete: (completions: Float64Array) => void): void;
  /**
   * Takes ownership of both fds; returns the relay id. Throws (fds still the caller's) if an fd is unusable.
   * flags: 1 = both fds are known non-blocking sockets (skips the O_NONBLOCK check, two fcntl calls).
   */
  relayAdd(downFd: number, upFd: number, idleTimeoutMs: number, initialUp?: Buffer, flags?: number): number;
  relayAbort(id: number): void;
  relayStats(): RelayEngineStats;
  /** Stops the threads, aborting every relay; returns their completions. */
  relayStop(): Float64Array;
  acceptorStart(
    listenFd: number,
    options: AcceptorNativeOptions,
    onBatch: (id: number, count: number, meta: Int32Array, addresses: string[], headers: Buffer | undefined) => void,
    onExhausted: (id: number, info: AcceptorExhaustionInfo) => void,
  ): number;
  acceptorStop(id: number): boolean;
  /** Deliver new connections at once, without PROXY v2 framing (a draining listener refuses them all). */
  acceptorNoFraming(id: number): boolean;
  acceptorStats(id: number): AcceptorNativeStats | undefined;
  /**
   * Accepts what waits in the queue, closes the listening fd (it is no longer the caller's), delivers the batch;
   * returns how many were accepted. Parked connections are delivered later as usual.
   */
  acceptorShutdown(id: number): number;
  /**
   * On the calling (main) thread: drop the bounding set to `keep` (when dropBounding), switch to uid/gid (with no
   * supplementary groups when clearGroups), set permitted = effective = inheritable = ambient = `keep`, set no_new_privs, then
   * execve(file, argv, env). Never returns on success; throws with nothing changed when a precondition fails (a
   * capability to keep that the process lacks, CAP_SETUID/CAP_SETGID/CAP_SETPCAP missing); a failure after the
   * first change prints one line and exits 1 (the process would be half-reduced).
   */
  reduceAndExec(options: ReduceAndExecOptions): never;
  /** prctl(PR_SET_NO_NEW_PRIVS) on the calling thread (inherited by every process it starts). */
  setNoNewPrivs(): void;
  /** The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap). */
  lastCapability(): number;
  nftAvailable(): { available: boolean; reason?: string };
  nftRun(script: string, options?: { json?: boolean; handles?: boolean }): NftResult;
}

/** Directory holding the built native artifacts (the addon and libsidelane_hook.so). */
export function nativeBuildDir(): string {
  // dist/src/native/addon.js -> repository root is three levels up; src/native/addon.ts (ts-node) two.
  for (const up of ['../../..', '../..']) {
    const dir = path.resolve(__dirname, up, 'build', 'Release');
    if (existsSync(path.join(dir, 'sidelane_addon.node'))) return dir;
  }
  return path.resolve(__dirname, '../../..', 'build', 'Release');
}

let loaded: SidelaneAddon | undefined;

/** Loads the addon once and hands it the typed error class. */
export function addon(): SidelaneAddon {
  if (loaded) return loaded;
  const file = path.join(nativeBuildDir(), 'sidelane_addon.node');
  if (!existsSync(file)) {
    throw new SidelaneError(
      'SIDELANE_ERR_NATIVE_MISSING',
      `the native addon is not built (expected ${file}); run \`npm install\` (or \`npm run build\`) in the sidelane checkout`,
      { file },
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as SidelaneAddon;
  mod.setErrorClass(SystemError as unknown as new (message: string, props: never) => Error);
  loaded = mod;
  return mod;
}
