/**
 * `tproxy+hook`: sidelane's default — conntrack-free TPROXY inbound with the client's address preserved, and the
 * client's outbound connections redirected in-process by the connect() hook (`sidelane exec`), which hands the
 * original destination to the outbound listener in a PROXY v2 header.
 */
import { sidelaneMode } from './sidelane-sidecars';

export const tproxyHookMode = sidelaneMode({
  name: 'tproxy+hook',
  description: 'sidelane default: `init` (TPROXY inbound, hook+tproxy outbound), client started with `sidelane exec` (connect() hook)',
  initArgs: [],
  runArgs: [],
  hooked: true,
});
