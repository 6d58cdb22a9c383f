import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../../src/cli/main';
import { ANNOTATIONS, UNSUPPORTED_ANNOTATIONS } from '../../../src/inject/annotations';
import { WORKLOAD_KINDS } from '../../../src/inject/workloads';
import { repoRoot } from '../../support/golden-file';

const doc = readFileSync(path.join(repoRoot(), 'docs', 'kubernetes.md'), 'utf8');

test('docs/kubernetes.md documents every annotation injection reads or refuses', () => {
  const names = [...ANNOTATIONS.map((a) => a.name), ...Object.keys(UNSUPPORTED_ANNOTATIONS), 'sidelane.io/status'];
  const missing = names.filter((n) => !doc.includes(`\`${n}\``));
  assert.deepEqual(missing, [], `undocumented annotations: ${missing.join(', ')}`);
});

test('docs/kubernetes.md documents every flag of sidelane inject and every workload kind', () => {
  const inject = buildProgram().commands.find((c) => c.name() === 'inject');
  assert.ok(inject);
  const missing = inject.options.map((o) => o.long as string).filter((f) => !doc.includes(f));
  assert.deepEqual(missing, [], `undocumented flags: ${missing.join(', ')}`);
  for (const kind of WORKLOAD_KINDS) assert.ok(doc.includes(`\`${kind}\``), `kind ${kind} is not listed`);
});
