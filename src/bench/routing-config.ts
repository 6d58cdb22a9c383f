/**
 * The routing configuration both sidelane sidecars run with (`sidelane run --config`, docs/config.md): the server
 * registered as a service whose L7 port is declared `protocol: HTTP`, so requests to it are routed one by one by
 * the HTTP connection manager (the L7 scenario), while every other port (the TCP scenarios' HTTP port, iperf3)
 * is undeclared and relayed as opaque TCP through the passthrough cluster, as with Istio's ALLOW_ANY.
 */
import { stringify } from 'yaml';
import { L7_PORT } from './server-apps';

export const BENCH_SERVICE_HOST = 'bench-server.bench.svc.cluster.local';

export function benchRoutingConfig(serverAddress: string): string {
  const config = {
    outboundTrafficPolicy: 'ALLOW_ANY',
    services: [
      {
        host: BENCH_SERVICE_HOST,
        addresses: [serverAddress],
        ports: [{ port: L7_PORT, protocol: 'HTTP', name: 'http-l7' }],
        endpoints: [{ address: serverAddress, port: L7_PORT }],
      },
    ],
    inbound: { ports: [{ port: L7_PORT, protocol: 'HTTP' }] },
  };
  return `# sidelane bench: routing configuration of both sidecars (generated)\n${stringify(config)}`;
}
