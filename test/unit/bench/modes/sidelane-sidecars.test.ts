import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MODES } from '../../../../src/bench/modes';
import { modeSlug } from '../../../../src/bench/modes/mode';
import { sidelaneRunArgs, type SidelaneModeSpec } from '../../../../src/bench/modes/sidelane-sidecars';
import { MODE_NAMES } from '../../../../src/bench/settings';

const spec: SidelaneModeSpec = { name: 'redirect', description: '', initArgs: ['--mode', 'redirect'], runArgs: ['--capture-mode', 'redirect'], hooked: false };

test('sidelane run gets the config, the worker count, no access log, and the mode flags', () => {
  assert.deepEqual(sidelaneRunArgs('/w/s.yaml', spec, 2), ['run', '--config', '/w/s.yaml', '--concurrency', '2', '--access-log', 'off', '--capture-mode', 'redirect']);
});

test('every mode is registered under its name, and pod names derived from it are valid', () => {
  for (const name of MODE_NAMES) {
    assert.equal(MODES[name].name, name);
    assert.ok(MODES[name].description.length > 10);
    assert.match(`${modeSlug(name)}-c`, /^[a-z0-9-]{1,20}$/);
  }
  assert.equal(modeSlug('tproxy+hook'), 'tproxy-hook');
});
