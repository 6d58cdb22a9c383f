/**
 * Where the demo finds what it runs: the compiled CLI, the bookinfo app and the traffic client (dist/), and the
 * manifests it builds the mesh from (shipped in src/demo/, which tsc does not copy: they are read from the source
 * tree, so `npm run demo` on a fresh clone finds them).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SidelaneError } from '../errors';

export interface DemoFiles {
  /** dist/src/cli/main.js */
  readonly cli: string;
  /** dist/src/demo/bookinfo-app.js */
  readonly app: string;
  /** dist/src/demo/traffic-client.js */
  readonly trafficClient: string;
  /** Istio's bookinfo.yaml (Services, Deployments) and the VirtualServices. */
  readonly manifests: readonly string[];
  /** The repository root (for short, relative names in messages). */
  readonly root: string;
}

const MANIFESTS = ['bookinfo.yaml', 'bookinfo-routing.yaml'];

/** `here` is the directory of the compiled demo modules (dist/src/demo). */
export function demoFiles(here: string = __dirname): DemoFiles {
  const root = path.resolve(here, '../../..');
  const manifestDir = [here, path.join(root, 'src', 'demo')].find((d) => MANIFESTS.every((m) => existsSync(path.join(d, m))));
  if (manifestDir === undefined) {
    throw new SidelaneError('SIDELANE_ERR_DEMO', `cannot find the demo manifests (${MANIFESTS.join(', ')}) in ${here} or ${path.join(root, 'src', 'demo')}`);
  }
  return {
    cli: path.resolve(here, '../cli/main.js'),
    app: path.join(here, 'bookinfo-app.js'),
    trafficClient: path.join(here, 'traffic-client.js'),
    manifests: MANIFESTS.map((m) => path.join(manifestDir, m)),
    root,
  };
}
