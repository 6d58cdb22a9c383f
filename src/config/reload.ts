/**
 * Configuration reload: on SIGHUP, on a change in the file's directory (editors replace files, Kubernetes swaps a
 * ConfigMap's `..data` symlink — so the directory is watched, not the file), debounced, or on demand. A valid file is
 * applied; an invalid one is refused with one stderr line and the running configuration keeps serving.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors';
import type { ConfigReloadEvent } from '../telemetry/events';
import { loadConfigFile } from './loader';
import type { SidelaneConfig } from './schema';

export type ReloadTrigger = ConfigReloadEvent['trigger'];

export interface ReloaderOptions {
  readonly file: string;
  /** Applies a validated configuration; returns a short summary for the log line. */
  apply(config: SidelaneConfig, trigger: ReloadTrigger): string;
  /** Told about a refused configuration (the message is the one line that was logged). */
  refused(message: string, trigger: ReloadTrigger): void;
  /** One line of log (default: stderr). */
  readonly log?: (line: string) => void;
  readonly debounceMs?: number;
  /** The signal that reloads (default SIGHUP; null = none, for tests running several reloaders). */
  readonly signal?: NodeJS.Signals | null;
}

export interface ReloadResult {
  readonly ok: boolean;
  /** False when a file change left the content as it was (nothing applied). */
  readonly changed: boolean;
  readonly message: string;
}

export class ConfigReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastDigest: string | undefined;
  private readonly onSignal = (): void => {
    this.reload('signal');
  };

  constructor(private readonly options: ReloaderOptions) {
    this.lastDigest = digestOf(options.file);
  }

  /** Starts watching the directory and listening for the signal. */
  start(): void {
    const dir = path.dirname(path.resolve(this.options.file));
    const base = path.basename(this.options.file);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Unknown filename (some platforms), the file itself, or a ConfigMap-style `..data` swap.
        if (filename === null || filename === base || String(filename).startsWith('..')) this.schedule();
      });
      this.watcher.on('error', () => undefined);
    } catch (err) {
      this.log(`sidelane: cannot watch ${dir} for configuration changes (${describeError(err)}); SIGHUP still reloads`);
    }
    if (this.options.signal !== null) process.on(this.options.signal ?? 'SIGHUP', this.onSignal);
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.options.signal !== null) process.off(this.options.signal ?? 'SIGHUP', this.onSignal);
  }

  /** Reads, validates and applies the file now. File-change reloads skip unchanged content. */
  reload(trigger: ReloadTrigger): ReloadResult {
    const file = this.options.file;
    const digest = digestOf(file);
    if (trigger === 'file' && digest !== undefined && digest === this.lastDigest) {
      return { ok: true, changed: false, message: `config ${file} unchanged` };
    }
    let config: SidelaneConfig;
    try {
      config = loadConfigFile(file);
    } catch (err) {
      const message = `sidelane: config reload refused (${trigger}), keeping the running configuration: ${describeError(err)}`;
      this.log(message);
      this.options.refused(describeError(err), trigger);
      this.lastDigest = digest;
      return { ok: false, changed: true, message };
    }
    let summary: string;
    try {
      summary = this.options.apply(config, trigger);
    } catch (err) {
      const message = `sidelane: config reload failed (${trigger}), keeping the running configuration: ${describeError(err)}`;
      this.log(message);
      this.options.refused(describeError(err), trigger);
      return { ok: false, changed: true, message };
    }
    this.lastDigest = digest;
    const message = `sidelane: config reloaded from ${file} (${trigger}): ${summary}`;
    this.log(message);
    return { ok: true, changed: true, message };
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload('file');
    }, this.options.debounceMs ?? 200);
    this.timer.unref();
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}

function digestOf(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}
