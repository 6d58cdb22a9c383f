/**
 * The catalogue of sidelane's errors: every failure a user can see has a stable `SIDELANE_ERR_*` code, carries
 * the context it happened in, and says what was expected. Exit codes follow DESIGN 8 (2 = usage/config, 1 = runtime).
 */

export type ErrorCode =
  | 'SIDELANE_ERR_USAGE'
  | 'SIDELANE_ERR_CONFIG'
  | 'SIDELANE_ERR_SYSCALL'
  | 'SIDELANE_ERR_NATIVE_MISSING'
  | 'SIDELANE_ERR_CAPTURE_APPLY'
  | 'SIDELANE_ERR_CAPTURE_BACKEND'
  | 'SIDELANE_ERR_CAPTURE_STATE'
  | 'SIDELANE_ERR_COMMAND'
  | 'SIDELANE_ERR_PROXY_HEADER'
  | 'SIDELANE_ERR_UPSTREAM_CONNECT'
  | 'SIDELANE_ERR_UPSTREAM_TIMEOUT'
  | 'SIDELANE_ERR_UPSTREAM_RESET'
  | 'SIDELANE_ERR_UPSTREAM_PROTOCOL'
  | 'SIDELANE_ERR_NO_HEALTHY_UPSTREAM'
  | 'SIDELANE_ERR_NETNS'
  | 'SIDELANE_ERR_ADMIN'
  | 'SIDELANE_ERR_BENCH'
  | 'SIDELANE_ERR_DEMO';

export interface ErrorContext {
  readonly [key: string]: unknown;
}

export class SidelaneError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  readonly exitCode: 1 | 2;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SidelaneError';
    this.code = code;
    this.context = context;
    this.exitCode = code === 'SIDELANE_ERR_USAGE' || code === 'SIDELANE_ERR_CONFIG' ? 2 : 1;
  }
}

/** A bad flag or argument: the message names the flag, the value and what was expected. */
export class UsageError extends SidelaneError {
  constructor(message: string, context: ErrorContext = {}) {
    super('SIDELANE_ERR_USAGE', message, context);
    this.name = 'UsageError';
  }
}

/** An invalid configuration: names the file, the path inside it and what was expected. */
export class ConfigError extends SidelaneError {
  readonly file: string | undefined;
  readonly issues: readonly ConfigIssue[];
  constructor(message: string, file: string | undefined, issues: readonly ConfigIssue[] = []) {
    super('SIDELANE_ERR_CONFIG', message, { file, issues });
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

export interface ConfigIssue {
  /** Path inside the document, e.g. `services[2].ports[0].port`. */
  readonly path: string;
  readonly message: string;
  /** 1-based position in the file, when the problem can be located. */
  readonly line?: number;
  readonly column?: number;
}

/**
 * A failed system call, raised by the native addon (it receives this class once at load time) or by JS code
 * wrapping a Node error. `code` is the errno name (ECONNREFUSED, …), `syscall` what failed.
 */
export class SystemError extends SidelaneError {
  readonly errno: number;
  readonly errnoName: string;
  readonly syscall: string;
  constructor(message: string, props: { errno: number; code: string; syscall: string; context?: string }) {
    super('SIDELANE_ERR_SYSCALL', message, { syscall: props.syscall, errno: props.code, while: props.context });
    this.name = 'SystemError';
    this.errno = props.errno;
    this.errnoName = props.code;
    this.syscall = props.syscall;
  }
}

/**
 * Formats any thrown value as the one clear line the CLI prints on stderr. Line breaks and other control characters
 * inside the message (a quoted file excerpt in a JSON parse error, a value a user typed) are escaped, so it stays one
 * line whatever it quotes.
 */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
