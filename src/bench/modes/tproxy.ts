/**
 * `tproxy`: the outbound fallback for binaries the hook cannot reach — the client runs without the hook and its
 * connections are marked on OUTPUT and TPROXY'd over lo to the outbound listener (`init --outbound tproxy`), still
 * without conntrack.
 */
import { sidelaneMode } from './sidelane-sidecars';

export const tproxyMode = sidelaneMode({
  name: 'tproxy',
  description: 'sidelane with outbound TPROXY only (`init --outbound tproxy`), client without the hook',
  initArgs: ['--outbound', 'tproxy'],
  runArgs: [],
  hooked: false,
});
