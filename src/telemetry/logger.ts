/**
 * The proxy's own log (pino, JSON lines on stderr) and the access log destination (stdout, a file, or off). Levels
 * change at run time through the admin API's /logging, across every worker.
 */
import pino from 'pino';

import type { LogLevel } from './log-level';

export { LOG_LEVELS, type LogLevel } from './log-level';

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): pino.Logger {
  return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: true }));
}

/** `-` = stdout, `off` = none, anything else a file path (appended). */
export function createAccessLogger(destination: string, level: LogLevel): pino.Logger | undefined {
  if (destination === 'off') return undefined;
  const dest = destination === '-' ? pino.destination({ fd: 1, sync: false }) : pino.destination({ dest: destination, append: true, mkdir: true, sync: false });
  // Access entries carry their own start_time; pino's `time` is when the line was written.
  return pino({ level, base: undefined, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
