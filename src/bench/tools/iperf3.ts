/**
 * iperf3 for the bulk-throughput scenarios: the server runs in the server pod, the client in the client pod with
 * `-J` (JSON report). iperf3 first opens a control connection to the same port, then one data connection per
 * stream (`-P`); both go through the sidecars like any other TCP connection.
 */
import { SidelaneError } from '../../errors';

export interface Iperf3Run {
  readonly server: string;
  readonly port: number;
  readonly streams: number;
  readonly durationMs: number;
}

export interface Iperf3Report {
  /** Received by the server, bits per second, all streams. */
  readonly receivedBitsPerSecond: number;
  readonly sentBitsPerSecond: number;
  readonly retransmits: number;
  readonly seconds: number;
}

export function iperf3Argv(run: Iperf3Run): string[] {
  const seconds = Math.max(1, Math.round(run.durationMs / 1000));
  // --omit 1 would lengthen the run; the slow-start second is part of the measurement, the same for every mode.
  return ['iperf3', '-c', run.server, '-p', String(run.port), '-P', String(run.streams), '-t', String(seconds), '-J'];
}

interface Iperf3Json {
  readonly error?: string;
  readonly end?: {
    readonly sum_received?: { readonly bits_per_second?: number; readonly seconds?: number };
    readonly sum_sent?: { readonly bits_per_second?: number; readonly retransmits?: number };
  };
}

export function parseIperf3(out: string): Iperf3Report {
  let doc: Iperf3Json;
  try {
    doc = JSON.parse(out) as Iperf3Json;
  } catch {
    throw new SidelaneError('SIDELANE_ERR_BENCH', `iperf3: expected a JSON report (-J), got '${out.trim().slice(0, 120)}'`);
  }
  if (doc.error) throw new SidelaneError('SIDELANE_ERR_BENCH', `iperf3: ${doc.error}`);
  const received = doc.end?.sum_received?.bits_per_second;
  const sent = doc.end?.sum_sent?.bits_per_second;
  if (typeof received !== 'number' || typeof sent !== 'number') {
    throw new SidelaneError('SIDELANE_ERR_BENCH', 'iperf3: the JSON report has no end.sum_received / end.sum_sent');
  }
  return {
    receivedBitsPerSecond: received,
    sentBitsPerSecond: sent,
    retransmits: doc.end?.sum_sent?.retransmits ?? 0,
    seconds: doc.end?.sum_received?.seconds ?? 0,
  };
}
