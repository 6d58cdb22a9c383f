/** `haproxy`: the peer data plane for the TCP scenarios — HAProxy in `mode tcp` as both sidecars. */
import { haproxyMode } from './haproxy-sidecars';

export const haproxyTcpMode = haproxyMode(
  'haproxy',
  'tcp',
  'HAProxy (Debian) as both sidecars, mode tcp, transparent binds, original destination, uid 1337 (`init --outbound tproxy -u 1337 --no-preserve-source`)',
);
