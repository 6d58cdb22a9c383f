/** `haproxy-http`: the L7 peer — HAProxy in `mode http` (per-request parsing and forwarding) as both sidecars. */
import { haproxyMode } from './haproxy-sidecars';

export const haproxyHttpMode = haproxyMode(
  'haproxy-http',
  'http',
  'HAProxy (Debian) as both sidecars in mode http (requests parsed and forwarded one by one), same capture as `haproxy`',
);
