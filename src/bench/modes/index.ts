/** The registry of benchmark modes, in report order. */
import type { ModeName } from '../settings';
import { directMode } from './direct';
import { haproxyTcpMode } from './haproxy';
import { haproxyHttpMode } from './haproxy-http';
import type { BenchMode } from './mode';
import { redirectMode } from './redirect';
import { tproxyMode } from './tproxy';
import { tproxyHookMode } from './tproxy-hook';

export const MODES: Readonly<Record<ModeName, BenchMode>> = {
  direct: directMode,
  redirect: redirectMode,
  'tproxy+hook': tproxyHookMode,
  tproxy: tproxyMode,
  haproxy: haproxyTcpMode,
  'haproxy-http': haproxyHttpMode,
};
