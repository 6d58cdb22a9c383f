/** `direct`: no capture and no proxy — the client talks to the server over the pods' veths (the physical limit). */
import type { BenchMode, RunningMode } from './mode';

export const directMode: BenchMode = {
  name: 'direct',
  description: 'no capture, no proxy: the client connects straight to the server (the limit)',
  async start(pods): Promise<RunningMode> {
    return {
      name: 'direct',
      pods,
      sidecars: [],
      clientArgv: (argv) => [...argv],
      fault: () => undefined,
      restartSidecars: async () => undefined,
      stop: async () => undefined,
    };
  },
};
