/**
 * How the benchmark runs sidelane itself: through its real command line (`node dist/src/cli/main.js …`) inside the
 * pods — `init` and `cleanup` for capture, `run` for the proxy, `exec` for hooked clients — exactly as a user or
 * an injected pod would, so what is measured is what ships.
 */
import path from 'node:path';

export interface SidelaneCli {
  /** The argv of `sidelane ARGS…`. */
  argv(...args: string[]): string[];
}

/** The CLI of this build (the compiled main.js next to this module). */
export function localCli(main = path.resolve(__dirname, '..', 'cli', 'main.js'), node = process.execPath): SidelaneCli {
  return { argv: (...args) => [node, main, ...args] };
}
