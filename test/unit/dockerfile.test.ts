/**
 * The Dockerfile cannot be built on the test machines (no Docker engine), so its contract is checked by reading
 * it: the build stage gets every input the native build and tsc need, the runtime stage gets every artifact the
 * CLI loads at the paths it looks for them, and it installs the capture tools.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { copies, parseDockerfile, resolveIn, type Stage } from '../support/dockerfile';
import { repoRoot } from '../support/golden-file';

const root = repoRoot();
const stages = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const build = stages.find((s) => s.name === 'build') as Stage;
const runtime = stages.at(-1) as Stage;

interface GypTarget {
  target_name: string;
  type?: string;
  product_prefix?: string;
  product_name?: string;
  sources: string[];
}
// binding.gyp is a Python literal that happens to be JSON here.
const gyp = JSON.parse(readFileSync(path.join(root, 'binding.gyp'), 'utf8')) as { targets: GypTarget[] };
const artifacts = gyp.targets.map((t) => (t.type === 'shared_library' ? `${t.product_prefix ?? ''}${t.product_name ?? t.target_name}.so` : `${t.target_name}.node`));

/** Files under WORKDIR each stage's COPY/RUN puts in place, as absolute paths (WORKDIR tracked). */
function copiedPaths(stage: Stage): { from: string | undefined; source: string; target: string }[] {
  let workdir = '/';
  const out: { from: string | undefined; source: string; target: string }[] = [];
  for (const i of stage.instructions) {
    if (i.keyword === 'WORKDIR') workdir = resolveIn(workdir, i.args);
    if (i.keyword !== 'COPY') continue;
    const [c] = copies({ ...stage, instructions: [i] });
    for (const source of c.sources) {
      const dest = resolveIn(workdir, c.destination);
      // `COPY a b ./` and `COPY dir ./dir`: a destination ending in / (or .) receives the basename.
      const target = c.destination.endsWith('/') || c.destination === '.' ? `${dest}/${path.basename(source)}` : dest;
      out.push({ from: c.from, source, target });
    }
  }
  return out;
}

function workdirOf(stage: Stage): string {
  return stage.instructions.filter((i) => i.keyword === 'WORKDIR').reduce((w, i) => resolveIn(w, i.args), '/');
}

test('binding.gyp yields the two artifacts the runtime needs', () => {
  assert.deepEqual(artifacts.sort(), ['libsidelane_hook.so', 'sidelane_addon.node']);
});

test('the build stage is node:20-bookworm and runs npm ci (node-gyp for addon + hook, tsc) with local headers', () => {
  assert.equal(build.from, 'node:20-bookworm');
  const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  assert.match(runs, /\bnpm ci\b/);
  assert.match(runs, /npm prune --omit=dev/);
  for (const a of artifacts) assert.ok(runs.includes(`test -f build/Release/${a}`), `the build does not check for ${a}`);
  assert.ok(build.instructions.some((i) => i.keyword === 'ENV' && i.args.includes('npm_config_nodedir=/usr/local')));
  // package.json's scripts are what npm ci runs: the native build and the TypeScript compile.
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
  assert.match(pkg.scripts.install, /node-gyp rebuild/);
  assert.match(pkg.scripts.prepare, /tsc/);
});

test('the build stage copies every input of the native build and of tsc, and .dockerignore keeps none of them out', () => {
  const sources = copiedPaths(build).filter((c) => c.from === undefined);
  for (const c of sources) assert.ok(existsSync(path.join(root, c.source)), `COPY ${c.source}: no such file in the repository`);
  const copiedRoots = sources.map((c) => c.source.replace(/^\.\//, '').replace(/\/$/, ''));
  const covered = (file: string): boolean => copiedRoots.some((r) => file === r || file.startsWith(`${r}/`));
  for (const f of ['package.json', 'package-lock.json', 'binding.gyp', 'tsconfig.json', 'src/cli/main.ts']) assert.ok(covered(f), `${f} is not copied`);
  for (const t of gyp.targets) for (const s of t.sources) assert.ok(covered(s), `${t.target_name} source ${s} is not copied into the build stage`);
  // Sources land at the same relative path under WORKDIR, so binding.gyp's relative paths still resolve.
  const wd = workdirOf(build);
  for (const c of sources) assert.equal(c.target, `${wd}/${c.source.replace(/^\.\//, '').replace(/\/$/, '')}`, `COPY ${c.source} lands at ${c.target}`);

  const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const must of ['node_modules', 'build', 'dist']) assert.ok(ignored.includes(must), `.dockerignore must exclude the host's ${must}`);
  for (const r of copiedRoots) assert.ok(!ignored.includes(r), `.dockerignore excludes ${r}, which the build copies`);
});

test('the runtime stage is a slim Node 20 with iptables, nftables, iproute2 and libnftables1', () => {
  assert.equal(runtime.from, 'node:20-bookworm-slim');
  const install = runtime.instructions.find((i) => i.keyword === 'RUN' && i.args.includes('apt-get install'));
  assert.ok(install, 'the runtime installs no packages');
  const words = install.args.split(/\s+/);
  for (const pkg of ['iptables', 'nftables', 'iproute2', 'libnftables1']) assert.ok(words.includes(pkg), `runtime does not install ${pkg}`);
  assert.match(install.args, /rm -rf \/var\/lib\/apt\/lists/);
});

test('the runtime stage gets the .node, the .so, dist/ and the production node_modules where the CLI looks for them', () => {
  const wd = workdirOf(runtime);
  const fromBuild = copiedPaths(runtime).filter((c) => c.from === 'build');
  const target = (source: string): string | undefined => fromBuild.find((c) => c.source === source)?.target;
  const buildWd = workdirOf(build);
  assert.equal(target(`${buildWd}/dist`), `${wd}/dist`);
  assert.equal(target(`${buildWd}/node_modules`), `${wd}/node_modules`);
  assert.equal(target(`${buildWd}/package.json`), `${wd}/package.json`);
  for (const a of artifacts) assert.equal(target(`${buildWd}/build/Release/${a}`), `${wd}/build/Release/${a}`, `${a} is not copied to build/Release`);
  // src/native/addon.ts looks for build/Release three levels above dist/src/native.
  assert.equal(path.posix.resolve(`${wd}/dist/src/native`, '../../..', 'build', 'Release'), `${wd}/build/Release`);
  // The artifacts exist in this checkout's build (npm install made them), so the names are the real ones.
  for (const a of artifacts) assert.ok(statSync(path.join(root, 'build', 'Release', a)).isFile(), `${a} was not built here`);
});

test('the entrypoint is the sidelane CLI (package.json bin), installed on PATH', () => {
  const wd = workdirOf(runtime);
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  const entry = runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT');
  assert.deepEqual(JSON.parse(entry?.args ?? 'null'), ['sidelane']);
  const runs = runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  assert.ok(runs.includes(`ln -s ${wd}/${pkg.bin.sidelane} /usr/local/bin/sidelane`), 'sidelane is not linked onto PATH');
  assert.ok(runs.includes(`chmod 0755 ${pkg.bin.sidelane}`), 'the CLI entry is not made executable');
  assert.ok(readFileSync(path.join(root, 'src', 'cli', 'main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n'), 'main.ts lost its shebang');
});
