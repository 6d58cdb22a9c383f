/**
 * Outlier detection (Envoy's consecutive-errors detectors): an endpoint answering too many 5xx (or gateway errors:
 * 502/503/504, connect failures, resets, timeouts) in a row is ejected for baseEjectionTime × the number of times it
 * has been ejected (capped by maxEjectionTime), unless that would eject more than maxEjectionPercent of the cluster.
 * Ejected endpoints return when their time is up; each healthy interval forgives one past ejection.
 */
import type { Clock } from './clock';
import type { ClusterStats } from './cluster-stats';
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';

export interface OutlierSettings {
  /** 0 disables the detector. */
  readonly consecutive5xx: number;
  readonly consecutiveGateway: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
}

/** Istio's defaults when outlierDetection is present without details. */
export const DEFAULT_OUTLIER: OutlierSettings = {
  consecutive5xx: 5,
  consecutiveGateway: 0,
  intervalMs: 10_000,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
};

/**
 * What an upstream attempt produced, as outlier detection sees it: an HTTP status, or a local-origin failure
 * (connect failure, reset, timeout), which counts as a gateway error (Envoy without split_external_local_origin_errors).
 */
export const LOCAL_ORIGIN_FAILURE = 0;

export class OutlierDetector {
  /** Earliest time an ejected endpoint is due back (Infinity when none is ejected). */
  private nextUnejectAt = Infinity;

  constructor(
    readonly settings: OutlierSettings,
    private readonly clock: Clock,
    private readonly set: EndpointSet,
    private readonly stats: ClusterStats,
  ) {}

  /** Records one attempt's outcome: an HTTP status, or LOCAL_ORIGIN_FAILURE. */
  report(ep: Endpoint, status: number): void {
    const local = status === LOCAL_ORIGIN_FAILURE;
    if (!local && status < 500) {
      ep.consecutive5xx = 0;
      ep.consecutiveGateway = 0;
      return;
    }
    ep.consecutive5xx += 1;
    if (local || status === 502 || status === 503 || status === 504) ep.consecutiveGateway += 1;
    else ep.consecutiveGateway = 0;
    const s = this.settings;
    if (s.consecutive5xx > 0 && ep.consecutive5xx >= s.consecutive5xx) {
      this.eject(ep, 'consecutive_5xx');
    } else if (s.consecutiveGateway > 0 && ep.consecutiveGateway >= s.consecutiveGateway) {
      this.eject(ep, 'consecutive_gateway_failure');
    }
  }

  /** Returns endpoints whose ejection time is over; cheap when nothing is due (one comparison). */
  refresh(): void {
    const now = this.clock.now();
    if (now < this.nextUnejectAt) return;
    let next = Infinity;
    let changed = false;
    for (const ep of this.set.all) {
      if (!ep.ejected) continue;
      if (now >= ep.ejectedUntil) {
        ep.ejected = false;
        ep.lastUnejectedAt = now;
        ep.consecutive5xx = 0;
        ep.consecutiveGateway = 0;
        this.stats.outlier_detection_ejections_active -= 1;
        this.stats.outlier_detection_unejections_total += 1;
        changed = true;
      } else if (ep.ejectedUntil < next) {
        next = ep.ejectedUntil;
      }
    }
    this.nextUnejectAt = next;
    if (changed) this.set.healthChanged();
  }

  private eject(ep: Endpoint, reason: 'consecutive_5xx' | 'consecutive_gateway_failure'): void {
    ep.consecutive5xx = 0;
    ep.consecutiveGateway = 0;
    if (ep.ejected) return;
    this.refresh();
    const total = this.set.size;
    const active = this.stats.outlier_detection_ejections_active;
    if (total === 0 || ((active + 1) * 100) / total > this.settings.maxEjectionPercent) {
      this.stats.outlier_detection_ejections_overflow += 1;
      return;
    }
    const now = this.clock.now();
    // Forgive one past ejection per healthy interval since the last return (Envoy decrements the same way).
    if (ep.timesEjected > 0 && this.settings.intervalMs > 0) {
      const forgiven = Math.floor((now - ep.lastUnejectedAt) / this.settings.intervalMs);
      ep.timesEjected = Math.max(0, ep.timesEjected - forgiven);
    }
    ep.timesEjected += 1;
    const duration = Math.min(this.settings.baseEjectionMs * ep.timesEjected, Math.max(this.settings.baseEjectionMs, this.settings.maxEjectionMs));
    ep.ejected = true;
    ep.ejectedUntil = now + duration;
    if (ep.ejectedUntil < this.nextUnejectAt) this.nextUnejectAt = ep.ejectedUntil;
    this.stats.outlier_detection_ejections_total += 1;
    this.stats.outlier_detection_ejections_active += 1;
    if (reason === 'consecutive_5xx') this.stats.outlier_detection_ejections_consecutive_5xx += 1;
    else this.stats.outlier_detection_ejections_consecutive_gateway_failure += 1;
    this.set.healthChanged();
  }

  /** An endpoint left the cluster: forget its ejection. */
  forget(ep: Endpoint): void {
    if (ep.ejected) {
      ep.ejected = false;
      this.stats.outlier_detection_ejections_active -= 1;
    }
  }
}
