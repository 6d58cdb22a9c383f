#!/usr/bin/env node
// Builds what is missing or stale before a command runs: the native addon and hook (node-gyp) and the TypeScript.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function newest(dir, exts) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) t = Math.max(t, fs.statSync(p).mtimeMs);
  }
  return t;
}

function mtime(file) {
  return fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0;
}

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

function ensureBuilt() {
  if (!fs.existsSync(path.join(root, 'node_modules'))) run('npm', ['install', '--ignore-scripts']);
  const bin = (name) => path.join(root, 'node_modules', '.bin', name);
  const addon = path.join(root, 'build', 'Release', 'sidelane_addon.node');
  const hook = path.join(root, 'build', 'Release', 'libsidelane_hook.so');
  const nativeSrc = Math.max(newest(path.join(root, 'native'), ['.c', '.cc', '.h']), mtime(path.join(root, 'binding.gyp')));
  if (!fs.existsSync(path.join(root, 'build', 'Makefile'))) run(bin('node-gyp'), ['rebuild']);
  else if (Math.min(mtime(addon), mtime(hook)) < nativeSrc) run(bin('node-gyp'), ['build']);
  // TypeScript: compile only when a source is newer than the newest compiled file (tsc rewrites every output).
  const tsSources = Math.max(
    ...['src', 'test', 'scripts'].map((d) => newest(path.join(root, d), ['.ts'])),
    mtime(path.join(root, 'tsconfig.json')),
    mtime(path.join(root, 'package.json')),
  );
  if (newest(path.join(root, 'dist'), ['.js']) < tsSources) run(bin('tsc'), ['-p', '.']);
}

module.exports = { ensureBuilt };
if (require.main === module) ensureBuilt();
