/**
 * Entry point of a worker process (forked by the supervisor with an IPC channel): waits for its `start` message,
 * builds the worker, reports `ready` (or `failed` with the reason), then serves the supervisor's messages. A worker
 * whose supervisor is gone exits.
 */
import { describeError, SidelaneError } from '../errors';
import type { FromWorker, ToWorker } from './ipc';
import { Worker } from './worker';

const send = (m: FromWorker): void => {
  if (process.connected) process.send?.(m);
};

let worker: Worker | undefined;

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    void (async () => {
      try {
        worker = new Worker(m.index, m.settings, m.config, m.source);
        await worker.start();
        send({ type: 'ready' });
      } catch (err) {
        send({ type: 'failed', message: describeError(err), exitCode: err instanceof SidelaneError ? err.exitCode : 1 });
        setTimeout(() => process.exit(1), 50);
      }
    })();
    return;
  }
  if (!worker) return;
  void worker.onMessage(m, send).catch((err: unknown) => worker?.log.error({ err: describeError(err) }, 'supervisor message failed'));
});

// The supervisor owns the lifecycle: a worker ignores terminal signals (SIGTERM goes to the supervisor, which drains
// its workers) and exits when its supervisor disappears.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.on('SIGHUP', () => undefined);
process.on('disconnect', () => process.exit(0));
