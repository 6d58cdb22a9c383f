/** How accepted connections reach routing and how TCP bytes move: native (acceptor + relay) or js (net.Server + JS relay). */
export type DataPath = 'native' | 'js';
export const DATA_PATHS: readonly DataPath[] = ['native', 'js'];
