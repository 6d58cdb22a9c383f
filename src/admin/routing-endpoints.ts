/**
 * Registers the routing core's admin endpoints: /config_dump (the applied configuration as listeners, routes and
 * clusters), /listeners and /clusters (Envoy-like text, or JSON with ?format=json), and /reload (POST: re-read the
 * configuration file, as SIGHUP does).
 */
import type { RoutingState } from '../sidecar/routing-state';
import type { AdminServer } from './admin-server';
import { json, text } from './admin-server';
import { clustersJson, clustersText } from './clusters-view';
import { configDump, listenersDump } from './config-dump';

export interface RoutingAdminOptions {
  /** Re-reads the configuration file; returns the outcome line. Absent when there is no file. */
  readonly reload?: () => { ok: boolean; message: string };
}

export function registerRoutingEndpoints(admin: AdminServer, state: RoutingState, options: RoutingAdminOptions = {}): void {
  admin.register('/config_dump', {
    help: 'the applied configuration: listeners, routes, clusters (JSON)',
    handler: () => {
      const r = state.current;
      return json(
        configDump(r.snapshot, {
          version: r.version,
          source: r.source,
          appliedAt: r.appliedAt,
          ...(state.lastError ? { lastRefused: state.lastError } : {}),
        }),
      );
    },
  });
  admin.register('/listeners', {
    help: 'listeners and their filter chains (?format=json)',
    handler: (req) => {
      const listeners = listenersDump(state.current.snapshot);
      if (req.query.get('format') === 'json') return json({ listener_statuses: listeners });
      return text(`${listeners.map((l) => `${l.name}::${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`).join('\n')}\n`);
    },
  });
  admin.register('/clusters', {
    help: 'clusters with circuit breakers, counters and endpoint health (?format=json)',
    handler: (req) => {
      const clusters = state.current.clusters.values();
      return req.query.get('format') === 'json' ? json(clustersJson(clusters)) : text(clustersText(clusters));
    },
  });
  if (options.reload) {
    const reload = options.reload;
    admin.register('/reload', {
      help: 're-read the configuration file now (as SIGHUP)',
      methods: ['POST'],
      handler: () => {
        const r = reload();
        return text(`${r.message}\n`, r.ok ? 200 : 400);
      },
    });
  }
}
