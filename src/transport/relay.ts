/**
 * The JavaScript byte relay between a downstream and an upstream socket: bounded buffers (a side that cannot
 * write pauses the side that reads), FIN forwarded as FIN (half-close), RST forwarded as RST, an idle timeout,
 * and byte counts for metrics and logs. The native relay (when present) gives the same guarantees off-thread.
 */
import type net from 'node:net';

export type RelayEnd =
  | 'closed' // both directions finished with FIN
  | 'downstream_reset'
  | 'upstream_reset'
  | 'idle_timeout'
  | 'downstream_error'
  | 'upstream_error'
  | 'aborted';

export interface RelayResult {
  /** Bytes read from downstream and written upstream. */
  readonly bytesUp: number;
  /** Bytes read from upstream and written downstream. */
  readonly bytesDown: number;
  readonly end: RelayEnd;
  readonly durationMs: number;
}

export interface RelayOptions {
  /** Close both sides when no byte moved in either direction for this long (0 = never). */
  readonly idleTimeoutMs?: number;
  /** Bytes already read from downstream (e.g. after a PROXY header or protocol sniffing). */
  readonly initialUp?: Buffer;
  readonly now?: () => number;
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Relays until both directions are closed; never rejects. */
export function relay(down: net.Socket, up: net.Socket, options: RelayOptions = {}): Promise<RelayResult> {
  const now = options.now ?? Date.now;
  const started = now();
  return new Promise((resolve) => {
    let bytesUp = 0;
    let bytesDown = 0;
    let end: RelayEnd | undefined;
    let closedSockets = 0;

    const finish = (): void => {
      resolve({ bytesUp, bytesDown, end: end ?? 'closed', durationMs: now() - started });
    };
    const onClose = (): void => {
      closedSockets += 1;
      if (closedSockets === 2) finish();
    };
    down.once('close', onClose);
    up.once('close', onClose);

    const pipe = (from: net.Socket, to: net.Socket, count: (n: number) => void): void => {
      from.on('data', (chunk: Buffer) => {
        count(chunk.length);
        if (to.destroyed) return;
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => from.resume());
      // FIN from `from`: forward it as FIN once everything before it has been written.
      from.once('end', () => {
        if (!to.destroyed) to.end();
      });
    };
    pipe(down, up, (n) => (bytesUp += n));
    pipe(up, down, (n) => (bytesDown += n));

    // A reset (or any error) on one side is passed on as a reset on the other (SO_LINGER 0 → RST).
    const onError = (side: 'downstream' | 'upstream', other: net.Socket) => (err: NodeJS.ErrnoException) => {
      const reset = RESET_CODES.has(err.code ?? '');
      end ??= reset ? (`${side}_reset` as RelayEnd) : (`${side}_error` as RelayEnd);
      if (!other.destroyed) other.resetAndDestroy();
    };
    down.on('error', onError('downstream', up));
    up.on('error', onError('upstream', down));

    if (options.initialUp && options.initialUp.length > 0) {
      bytesUp += options.initialUp.length;
      if (!up.write(options.initialUp)) down.pause();
    }
    // The client's FIN may already have been read (e.g. while its first bytes were sniffed): forward it now.
    if (down.readableEnded && !up.destroyed) up.end();

    // Every byte passes through both sockets, so either one going idle means the whole relay is idle.
    const idle = options.idleTimeoutMs ?? 0;
    if (idle > 0) {
      const onIdle = (): void => {
        end ??= 'idle_timeout';
        down.destroy();
        up.destroy();
      };
      down.setTimeout(idle, onIdle);
      up.setTimeout(idle, onIdle);
    }
  });
}
