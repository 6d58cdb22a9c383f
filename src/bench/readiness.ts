/**
 * Waiting until something in a pod is ready: listening sockets (read from `ss` inside the pod, so it works for
 * any server — nginx, iperf3, sidelane, HAProxy) or any asynchronous probe, with a deadline and a clear error.
 */
import { SidelaneError } from '../errors';
import type { Pod } from '../netns/lab';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns true; the error names `what` and the last probe failure. `giveUp` returns a reason
 * to stop at once (e.g. the process being waited for has exited).
 */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  giveUp: () => string | undefined = () => undefined,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const reason = giveUp();
    if (reason !== undefined) throw new SidelaneError('SIDELANE_ERR_BENCH', `gave up waiting for ${what}: ${reason}`);
    try {
      if (await probe()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new SidelaneError('SIDELANE_ERR_BENCH', `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** TCP ports with a listening socket in the pod (any address, IPv4 or IPv6). */
export async function listeningPorts(pod: Pod): Promise<Set<number>> {
  const r = await pod.exec('ss', ['-Hltn'], { allowFailure: true });
  const ports = new Set<number>();
  for (const line of r.stdout.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m) ports.add(Number(m[1]));
  }
  return ports;
}

export async function waitForListeners(
  pod: Pod,
  ports: readonly number[],
  timeoutMs = 10_000,
  giveUp: () => string | undefined = () => undefined,
): Promise<void> {
  await waitFor(
    `ports ${ports.join(', ')} to listen in pod ${pod.name}`,
    async () => {
      const open = await listeningPorts(pod);
      return ports.every((p) => open.has(p));
    },
    timeoutMs,
    giveUp,
  );
}
