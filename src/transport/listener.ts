/**
 * Listening sockets for the proxy's captured ports: a transparent (IP_TRANSPARENT) socket made by the native addon,
 * optionally with SO_REUSEPORT (one per worker) and the bypass SO_MARK that accepted sockets inherit, handed to a
 * net.Server by fd or used by the native acceptor.
 */
import net from 'node:net';
import { addon } from '../native/addon';
import { UsageError } from '../errors';
import { familyOf } from './address';

export interface TransparentListenOptions {
  readonly address: string;
  readonly port: number;
  readonly transparent: boolean;
  readonly reusePort: boolean;
  /** SO_MARK for the listener; accepted sockets and their SYN-ACKs inherit it (DESIGN 3.2). */
  readonly mark?: number;
  readonly backlog?: number;
}

export function validatePort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${what}: expected a port number 0-65535, got ${String(port)}`);
  }
}

/** Opens the listening socket natively (bound, listening, non-blocking) and returns its fd. */
export function openTransparentListener(options: TransparentListenOptions): number {
  const family = familyOf(options.address);
  if (!family) throw new UsageError(`listen address ${options.address} is not an IP address`);
  validatePort(options.port, 'listen port');
  return addon().listen({
    family,
    address: options.address,
    port: options.port,
    transparent: options.transparent,
    reusePort: options.reusePort,
    mark: options.mark ?? 0,
    backlog: options.backlog ?? 4096,
    // The v6 listener also takes v4-mapped flows unless a separate v4 listener exists; we always open both.
    v6Only: family === 6,
  });
}

/** Opens the socket natively and starts a net.Server on it; resolves once listening. */
export async function listenTransparent(
  server: net.Server,
  options: TransparentListenOptions,
): Promise<{ fd: number; address: string; port: number }> {
  const fd = openTransparentListener(options);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ fd }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = addon().localAddress(fd);
  return { fd, address: bound.address, port: bound.port };
}
