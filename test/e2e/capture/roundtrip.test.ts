/**
 * init twice + cleanup leaves the namespace byte-identical (iptables-save of both flavours and families, the nft
 * ruleset, ip rules, every routing table, lo's addresses; only timestamps and counters normalised), for every mode
 * × backend × family, with foreign rules present that must survive.
 */
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { roundTrip } from '../../support/capture';

const BACKENDS = ['nft', 'iptables-nft', 'iptables-legacy'] as const;

for (const mode of ['tproxy', 'redirect'] as const) {
  for (const backend of BACKENDS) {
    test(`init twice + cleanup is byte-identical: --mode ${mode} --backend ${backend}, IPv4 and dual stack`, async (t) => {
      await withLab(t, { prefix: 'caprt' }, async (lab) => {
        try {
          await roundTrip(lab, 'v4', backend, ['--mode', mode, '--no-ipv6']);
          await roundTrip(lab, 'dual', backend, ['--mode', mode, '--ipv6']);
        } finally {
          rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
        }
      });
    });
  }
}

