/**
 * The messages between the supervisor (`sidelane run`) and its worker processes, over Node's IPC channel with
 * structured-clone serialization. Requests carry an id; replies echo it.
 */
import type { SidelaneConfig } from '../config/schema';
import type { AdminResponse } from '../admin/admin-server';
import type { LogLevel } from '../telemetry/logger';
import type { ReloadTrigger } from '../config/reload';
import type { SidecarOptions } from './sidecar';

/** Everything a worker needs to build its data plane (parsed and validated by the supervisor). */
export interface WorkerSettings {
  readonly sidecar: SidecarOptions;
  readonly preserveSource: boolean;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Downstream HTTP request headers must be complete within this (slowloris bound); 0 = no bound. */
  readonly requestHeadersTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** `-` stdout, `off`, or a file. */
  readonly accessLog: string;
  /** Istio's cluster id for source_cluster/destination_cluster labels. */
  readonly meshCluster: string;
}

export type ToWorker =
  | { readonly type: 'start'; readonly index: number; readonly settings: WorkerSettings; readonly config: SidelaneConfig; readonly source: string }
  | { readonly type: 'apply'; readonly config: SidelaneConfig; readonly source: string; readonly trigger: ReloadTrigger }
  | { readonly type: 'refused'; readonly message: string; readonly source: string; readonly trigger: ReloadTrigger }
  | { readonly type: 'admin'; readonly id: number; readonly method: string; readonly path: string; readonly query: string; readonly body: string }
  | { readonly type: 'metrics'; readonly id: number }
  | { readonly type: 'logging'; readonly level: LogLevel }
  | { readonly type: 'drain'; readonly deadlineMs: number; readonly exit: boolean };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string; readonly exitCode: number }
  | { readonly type: 'reply'; readonly id: number; readonly admin?: AdminResponse; readonly metrics?: unknown[] }
  | { readonly type: 'drained' };
