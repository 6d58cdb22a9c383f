import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { renderMarkdown } from '../../../src/bench/report/markdown';
import { renderSvg } from '../../../src/bench/report/svg';
import { repoRoot } from '../../support/golden-file';
import { syntheticResult } from '../../support/bench-result';

const MAIN = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

function sidelane(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad bench flags exit 2 with one line naming the flag, before anything is created', () => {
  for (const [args, message] of [
    [['--modes', 'direct,envoy'], /^sidelane: --modes: unknown 'envoy'; expected a comma-separated list of direct, redirect, tproxy\+hook, tproxy, haproxy, haproxy-http\n$/],
    [['--repeat', 'many'], /^sidelane: --repeat: expected an integer 1-100, got 'many'\n$/],
    [['--duration', '1y'], /^sidelane: --duration: expected a duration like 500ms, 5s, 1m or 1h, got '1y'\n$/],
  ] as const) {
    const r = sidelane(['bench', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

test('--from-json re-renders the Markdown (stdout, --markdown) and SVG of an earlier result without running anything', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-cli-'));
  try {
    const result = syntheticResult();
    const json = path.join(dir, 'result.json');
    writeFileSync(json, JSON.stringify(result));
    const svg = path.join(dir, 'out', 'chart.svg');
    const md = path.join(dir, 'out', 'report.md');
    const r = sidelane(['bench', '--from-json', json, '--svg', svg, '--markdown', md]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, renderMarkdown(result));
    assert.equal(readFileSync(md, 'utf8'), r.stdout);
    assert.equal(readFileSync(svg, 'utf8'), renderSvg(result));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--from-json refuses a file that is not a bench result', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-cli-'));
  try {
    const file = path.join(dir, 'other.json');
    writeFileSync(file, '{"kind": "Pod"}');
    const r = sidelane(['bench', '--from-json', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--from-json: .*other\.json is not a sidelane bench result \(expected "schema": "sidelane-bench\/1"\)/);
    const missing = sidelane(['bench', '--from-json', path.join(dir, 'missing.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--from-json: cannot read .*missing\.json as JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench --help documents every flag', () => {
  const r = sidelane(['bench', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--modes', '--scenarios', '--repeat', '--duration', '--warmup', '--connections', '--concurrency', '--rate', '--idle-connections', '--burst-connections', '--json', '--svg', '--markdown', '--quick', '--keep', '--from-json']) {
    assert.ok(r.stdout.includes(flag), `${flag} missing from --help`);
  }
});
