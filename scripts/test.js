#!/usr/bin/env node
// The test command (`npm test`): installs missing system packages (as root), builds, then runs every test file
// with node's test runner. Filters: `npm test -- unit`, `npm test -- e2e/inbound` (substring of the file path).
// Environment: CI=true turns "skipped: needs root" into failures; SIDELANE_TEST_CONCURRENCY (default 2).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ensure } = require('./system-packages');
const { ensureBuilt } = require('./ensure-built');

const root = path.resolve(__dirname, '..');

function collect(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) collect(p, out);
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

ensure('test');
ensureBuilt();
const filters = process.argv.slice(2);
let files = collect(path.join(root, 'dist', 'test')).sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.SIDELANE_TEST_CONCURRENCY || '2';
const reporter = process.env.SIDELANE_TEST_REPORTER || 'spec';
const r = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, `--test-reporter=${reporter}`, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SIDELANE_ROOT: root } },
);
process.exit(r.status === null ? 1 : r.status);
