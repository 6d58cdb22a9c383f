/** The demo's shipped manifests, read as the demo reads them (src/demo/bookinfo.yaml and bookinfo-routing.yaml). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { mergeManifests, readManifest, type MeshManifest } from '../../../src/demo/kube-manifest';
import { repoRoot } from '../../support/golden-file';

export const MANIFEST_FILES = ['src/demo/bookinfo.yaml', 'src/demo/bookinfo-routing.yaml'];

export function shippedManifest(): MeshManifest {
  return mergeManifests(...MANIFEST_FILES.map((f) => readManifest(readFileSync(path.join(repoRoot(), f), 'utf8'), f)));
}
