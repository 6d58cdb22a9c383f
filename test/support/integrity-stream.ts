/**
 * The byte streams of the integrity and backpressure tests: a deterministic pseudo-random stream per (seed, stream
 * id, direction), made on the fly from an AES-128-CTR keystream (never held whole in memory), written with
 * backpressure, and a receiver that hashes what arrives (sha256) and can read at a bounded rate for a while (the slow
 * reader). Shared by the integrity app (both ends) and the tests that compare what the two ends report.
 */
import { createCipheriv, createHash, type Cipher } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';

/** `up`: client → server; `down`: server → client. */
export type StreamDirection = 'up' | 'down';

/** What one end saw of one direction of one stream. */
export interface Digest {
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * How a TCP stream uses its two directions (half-close orders):
 *  duplex        both directions at once, each side sends FIN when done
 *  up-then-down  the client sends, then FIN; the server reads to the end, then answers, then FIN
 *  down-then-up  the server sends, then FIN; the client reads to the end, then sends, then FIN
 *  up            the client uploads (FIN after it); the server only reads (the backpressure upload)
 *  down          the client sends FIN right after its header; the server sends everything (a download)
 */
export const TCP_MODES = ['duplex', 'up-then-down', 'down-then-up', 'up', 'down'] as const;
export type TcpMode = (typeof TCP_MODES)[number];

/** HTTP exchanges: a POST whose body is the stream, or a GET whose response body is. */
export const HTTP_MODES = ['upload', 'download'] as const;
export type HttpMode = (typeof HTTP_MODES)[number];

/** The first line a TCP client sends (JSON, then `\n`): what the server must do with this stream. */
export interface StreamHeader {
  readonly id: string;
  readonly mode: TcpMode;
  readonly up: number;
  readonly down: number;
  readonly seed: string;
  /** The server reads at this rate (bytes/s) until `slowMs` after the header (the slow reader). */
  readonly slowRate?: number;
  readonly slowMs?: number;
  /** The server records how much it had sent every this many ms (ServerReport.sentAt). */
  readonly progressMs?: number;
}

/** A slow-reading phase: how many bytes the reader had consumed when it ended, and when (epoch ms). */
export interface SlowPhase {
  readonly until: number;
  readonly bytes: number;
}

/** One line the server prints per finished stream. */
export interface ServerReport {
  readonly side: 'server';
  readonly proto: 'tcp' | 'http';
  readonly id: string;
  readonly mode: TcpMode | HttpMode;
  readonly rx?: Digest;
  readonly tx?: Digest;
  readonly slow?: SlowPhase;
  /** [epoch ms, bytes sent so far] every progressMs while the server was sending (when asked). */
  readonly sentAt?: readonly (readonly [number, number])[];
  readonly error?: string;
}

/** One entry of the client's summary per stream. */
export interface ClientStream {
  readonly id: string;
  readonly mode: TcpMode | HttpMode;
  readonly tx?: Digest;
  readonly rx?: Digest;
  readonly slow?: SlowPhase;
  /**
   * Bytes besides the payload that the proxy carried for this stream: up, the TCP header line; down, the JSON answer
   * to an HTTP upload. Lets the tests hold the proxy's byte counts to exact values.
   */
  readonly extraUp?: number;
  readonly extraDown?: number;
  readonly error?: string;
}

/** The client's one-line JSON summary. */
export interface ClientSummary {
  readonly streams: readonly ClientStream[];
  /** Payload bytes sent plus received by the client (headers excluded). */
  readonly bytes: number;
  readonly ms: number;
}

/** A progress line the client prints on stderr when asked (`--progress-ms`). */
export interface ClientProgress {
  readonly t: number;
  readonly sent: number;
  readonly received: number;
}

const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/** Splits a total payload into per-direction sizes for a mode. */
export function directionSizes(mode: TcpMode | HttpMode, bytes: number): { up: number; down: number } {
  switch (mode) {
    case 'up':
    case 'upload':
      return { up: bytes, down: 0 };
    case 'down':
    case 'download':
      return { up: 0, down: bytes };
    default: {
      const up = Math.floor(bytes / 2);
      return { up, down: bytes - up };
    }
  }
}

export interface PlannedStream {
  readonly id: string;
  readonly mode: TcpMode | HttpMode;
  readonly up: number;
  readonly down: number;
}

/**
 * How a client splits `total` payload bytes over `streams` concurrent streams (the last one takes the remainder),
 * modes assigned in turn. The client follows it and the tests check each end against it.
 */
export function planStreams<M extends TcpMode | HttpMode>(run: string, total: number, streams: number, modes: readonly M[]): (PlannedStream & { mode: M })[] {
  const per = Math.floor(total / streams);
  return Array.from({ length: streams }, (_, i) => {
    const mode = modes[i % modes.length]!;
    const size = i === streams - 1 ? total - per * (streams - 1) : per;
    return { id: `${run}-${i}`, mode, ...directionSizes(mode, size) };
  });
}

/**
 * The stream for (seed, id, direction): every stream differs, so a proxy that crossed bytes between connections, or
 * between the two directions of one, is caught by the hashes (identical streams would hide it).
 */
export class PatternSource {
  private readonly cipher: Cipher;
  private readonly hash = createHash('sha256');
  private left: number;

  constructor(seed: string, id: string, direction: StreamDirection, readonly total: number) {
    const key = createHash('sha256').update(`${seed}\0${id}\0${direction}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    this.left = total;
  }

  /** The next chunk (hashed as it is made), or undefined at the end. */
  next(): Buffer | undefined {
    if (this.left <= 0) return undefined;
    const n = Math.min(CHUNK, this.left);
    this.left -= n;
    const chunk = this.cipher.update(n === CHUNK ? ZEROS : ZEROS.subarray(0, n));
    this.hash.update(chunk);
    return chunk;
  }

  get sent(): number {
    return this.total - this.left;
  }

  digest(): Digest {
    return { bytes: this.sent, sha256: this.hash.digest('hex') };
  }
}

/** Samples how far `source` has got every `everyMs` until stop() (the sender's side of "bytes in flight"). */
export function trackSent(source: PatternSource, everyMs: number, now: () => number = Date.now): { stop(): [number, number][] } {
  const points: [number, number][] = [];
  const timer = setInterval(() => points.push([now(), source.sent]), everyMs);
  return {
    stop(): [number, number][] {
      clearInterval(timer);
      points.push([now(), source.sent]);
      return points;
    },
  };
}

function waitDrain(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      w.off('drain', onDrain);
      w.off('close', onClose);
      w.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('closed while writing'));
    w.on('drain', onDrain);
    w.on('close', onClose);
    w.on('error', done);
  });
}

/** Writes the whole stream to `w`, waiting for 'drain' whenever it is full; `onSent` sees every chunk's size. */
export async function sendPattern(w: Writable, source: PatternSource, onSent?: (n: number) => void): Promise<Digest> {
  for (let chunk = source.next(); chunk !== undefined; chunk = source.next()) {
    if (w.destroyed) throw new Error(`destroyed after ${source.sent - chunk.length} bytes`);
    const more = w.write(chunk);
    onSent?.(chunk.length);
    if (!more) await waitDrain(w);
  }
  return source.digest();
}

export interface ReceiveOptions {
  /** Bytes already read (past a header) that belong to the stream. */
  readonly initial?: Buffer;
  /** Read at most this many bytes/s until `slowMs` has passed (0/undefined = full speed). */
  readonly slowRate?: number;
  readonly slowMs?: number;
  readonly onReceived?: (n: number) => void;
  readonly now?: () => number;
}

export interface Received extends Digest {
  readonly slow?: SlowPhase;
}

/**
 * Hashes everything `r` delivers until its end. The slow phase pauses the stream whenever it is ahead of the rate,
 * so the kernel stops reading and the sender (through the proxy) must wait — which is what backpressure is.
 */
export function receivePattern(r: Readable, options: ReceiveOptions = {}): Promise<Received> {
  const now = options.now ?? Date.now;
  const hash = createHash('sha256');
  const started = now();
  const rate = options.slowRate ?? 0;
  const slowUntil = rate > 0 ? started + (options.slowMs ?? 0) : started;
  let bytes = 0;
  let slow: SlowPhase | undefined;
  let timer: NodeJS.Timeout | undefined;
  const take = (chunk: Buffer): void => {
    hash.update(chunk);
    bytes += chunk.length;
    options.onReceived?.(chunk.length);
  };
  const endSlow = (): void => {
    slow ??= { until: now(), bytes };
  };
  return new Promise((resolve, reject) => {
    if (options.initial && options.initial.length > 0) take(options.initial);
    if (rate > 0) {
      timer = setTimeout(endSlow, Math.max(0, slowUntil - now()));
    }
    r.on('data', (chunk: Buffer) => {
      if (rate === 0) {
        take(chunk);
        return;
      }
      const t = now();
      if (t >= slowUntil) {
        endSlow(); // before counting this chunk, in case the timer is late
        take(chunk);
        return;
      }
      take(chunk);
      const allowed = (rate * (t - started)) / 1000;
      if (bytes > allowed) {
        r.pause();
        const wait = Math.min(slowUntil - t, ((bytes - allowed) / rate) * 1000);
        setTimeout(() => r.resume(), Math.ceil(wait));
      }
    });
    r.once('end', () => {
      if (timer) clearTimeout(timer);
      if (rate > 0) endSlow();
      resolve({ bytes, sha256: hash.digest('hex'), ...(slow ? { slow } : {}) });
    });
    r.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    r.once('close', () => {
      // A close without 'end' is a cut stream (e.g. a reset the socket did not report as an error).
      if (!r.readableEnded) reject(new Error(`closed after ${bytes} bytes without an end`));
    });
  });
}
