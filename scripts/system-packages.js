#!/usr/bin/env node
// Installs the Debian packages sidelane's tests, demo and benchmark need, when run as root and something is missing.
// Used by `npm test`, `npm run demo`, `npm run bench` and .ci/run, so a fresh Debian machine needs nothing else.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');

const PACKAGES = {
  test: [
    'iproute2', 'iptables', 'nftables', 'libnftables1', 'conntrack', 'curl', 'wget', 'python3', 'procps',
    'golang-go', 'nginx-light', 'openjdk-17-jdk-headless', 'gcc', 'libc6-dev', 'haproxy', 'wrk', 'nghttp2-client',
    'iperf3', 'libcap2-bin', 'socat', 'python3-prometheus-client',
  ],
  // `sidelane demo`: namespaces, a capture backend, and curl for the commands it prints.
  demo: ['iproute2', 'nftables', 'libnftables1', 'iptables', 'curl', 'procps'],
};

function missing(pkgs) {
  return pkgs.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function ensure(set = 'test') {
  const want = missing(PACKAGES[set]);
  if (want.length === 0) return;
  if (process.getuid && process.getuid() !== 0) {
    console.error(`sidelane: missing Debian packages (${want.join(' ')}); run as root to install them, or: apt-get install ${want.join(' ')}`);
    return;
  }
  console.error(`sidelane: installing Debian packages: ${want.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...want], { stdio: 'inherit', env });
}

module.exports = { ensure, PACKAGES };
if (require.main === module) ensure(process.argv[2] || 'test');
