/**
 * Locates and loads the native addon (build/Release/sidelane_addon.node) and describes its surface. Callers use
 * the typed wrappers in this module; arguments are validated here before they cross into C++ (which only executes).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SidelaneError, SystemError } from '../errors';

export interface NativeAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

export interface ListenOptions {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly transparent: boolean;
  readonly reusePort: boolean;
  readonly mark?: number;
  readonly backlog?: number;
  readonly v6Only?: boolean;
}

export interface ConnectOptions {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly sourceAddress?: string;
  readonly sourcePort?: number;
  readonly transparent?: boolean;
  readonly mark?: number;
  readonly noDelay?: boolean;
}

export interface ConnectStart {
  /** -1 when the connect failed at once. */
  readonly fd: number;
  /** 0 connected, EINPROGRESS (115) pending, anything else failed. */
  readonly errno: number;
  readonly code?: string;
}

export interface NftResult {
  readonly ok: boolean;
  readonly output: string;
  readonly error: string;
}

/** The raw addon; see native/addon/*.cc. */
export interface SidelaneAddon {
  setErrorClass(cls: new (message: string, props: never) => Error): void;
  listen(options: ListenOptions): number;
  connect(options: ConnectOptions): ConnectStart;
  setConnectCallback(cb: (fd: number, errno: number) => void): void;
  cancelConnect(fd: number): boolean;
  pendingConnects(): number;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  getOriginalDst(fd: number, family: 4 | 6): NativeAddress;
  getCookie(fd: number): bigint;
  localAddress(fd: number): NativeAddress;
  closeFd(fd: number): void;
  nftAvailable(): { available: boolean; reason?: string };
  nftRun(script: string, options?: { json?: boolean; handles?: boolean }): NftResult;
}

/** Directory holding the built native artifacts (the addon and libsidelane_hook.so). */
export function nativeBuildDir(): string {
  // dist/src/native/addon.js -> repository root is three levels up; src/native/addon.ts (ts-node) two.
  for (const up of ['../../..', '../..']) {
    const dir = path.resolve(__dirname, up, 'build', 'Release');
    if (existsSync(path.join(dir, 'sidelane_addon.node'))) return dir;
  }
  return path.resolve(__dirname, '../../..', 'build', 'Release');
}

let loaded: SidelaneAddon | undefined;

/** Loads the addon once and hands it the typed error class. */
export function addon(): SidelaneAddon {
  if (loaded) return loaded;
  const file = path.join(nativeBuildDir(), 'sidelane_addon.node');
  if (!existsSync(file)) {
    throw new SidelaneError(
      'SIDELANE_ERR_NATIVE_MISSING',
      `the native addon is not built (expected ${file}); run \`npm install\` (or \`npm run build\`) in the sidelane checkout`,
      { file },
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as SidelaneAddon;
  mod.setErrorClass(SystemError as unknown as new (message: string, props: never) => Error);
  loaded = mod;
  return mod;
}
