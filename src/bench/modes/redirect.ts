/**
 * `redirect`: Istio's default capture as the baseline — nat-table REDIRECT (`sidelane init --mode redirect`), the
 * proxy reading SO_ORIGINAL_DST (`run --capture-mode redirect`) — on the same proxy core as the TPROXY modes.
 * REDIRECT cannot keep the client's address towards the app, so the proxy connects from 127.0.0.6 as Istio does.
 */
import { sidelaneMode } from './sidelane-sidecars';

export const redirectMode = sidelaneMode({
  name: 'redirect',
  description: 'sidelane with Istio-style nat REDIRECT capture (`init --mode redirect`, `run --capture-mode redirect`)',
  initArgs: ['--mode', 'redirect'],
  runArgs: ['--capture-mode', 'redirect', '--no-preserve-source'],
  hooked: false,
});
