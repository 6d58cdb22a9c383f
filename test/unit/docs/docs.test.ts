/**
 * The documentation, kept true where a test can: the configuration examples parse with the real loader (and the
 * complete one is the checked-in fixture), the demo's documented configuration is what the generator writes, and
 * every relative link between documents — file and #anchor — resolves.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/loader';
import { readFixture, repoRoot } from '../../support/golden-file';
import { headings, links, section } from '../../support/markdown';

const root = repoRoot();
const read = (rel: string): string => readFileSync(path.join(root, rel), 'utf8');
const yamlBlocks = (md: string): string[] => [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('every YAML example in docs/config.md is a valid configuration; the complete one is the bookinfo fixture', () => {
  const doc = read('docs/config.md');
  const blocks = yamlBlocks(doc);
  assert.ok(blocks.length >= 1, 'docs/config.md has YAML examples');
  blocks.forEach((yaml, i) => parseConfig(yaml, `docs/config.md example ${i + 1}`));
  const complete = section(doc, 'a-complete-example-bookinfo');
  assert.ok(complete, 'the "A complete example" section exists');
  const [example] = yamlBlocks(complete);
  assert.ok(example);
  // The text says the example *is* test/fixtures/config/bookinfo.yaml (which the routing tests use): same meaning.
  assert.deepEqual(parseConfig(example, 'docs/config.md'), parseConfig(readFixture('config', 'bookinfo.yaml'), 'bookinfo.yaml'));
});

test("the demo's documented routes are verbatim what the generator writes for productpage", () => {
  const [routes] = yamlBlocks(read('docs/demo.md'));
  assert.ok(routes?.startsWith('routes:'));
  assert.ok(readFixture('golden', 'demo', 'productpage.yaml').includes(routes), 'docs/demo.md routes block is in test/fixtures/golden/demo/productpage.yaml');
});

test('every relative link in README.md and docs/ points to an existing file and heading', () => {
  const files = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const file of files) {
    for (const { target } of links(read(file))) {
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      const [rel, anchor] = target.split('#') as [string, string | undefined];
      const dest = rel === '' ? file : path.join(path.dirname(file), rel);
      if (!existsSync(path.join(root, dest))) {
        broken.push(`${file}: ${target} (no file ${dest})`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith('.md') && !headings(read(dest)).some((h) => h.slug === anchor)) {
        broken.push(`${file}: ${target} (no heading #${anchor} in ${dest})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
