/**
 * The configuration file's schema (zod): what may be written, with defaults and one message per mistake saying what
 * was expected. Unknown fields are errors (a typo must never be silently ignored). Cross-references between
 * sections (routes → services → subsets) are checked afterwards by references.ts.
 */
import net from 'node:net';
import { z } from 'zod';
import { MAX_DURATION_TEXT, parseDurationMs } from './duration';
import { isProtocolName, PROTOCOL_NAMES } from './protocol';

// ---------------------------------------------------------------------------------------------------------------
// Scalars

const duration = z
  .union([z.number(), z.string()], { error: 'expected a duration like 250ms, 5s, 1m or 1h (or milliseconds as a number)' })
  .transform((value, ctx) => {
    const ms = parseDurationMs(value);
    if (ms === undefined || ms === 'too-long') {
      const message =
        ms === 'too-long'
          ? `expected a duration of at most ${MAX_DURATION_TEXT} (timers hold 2^31-1 ms)`
          : 'expected a duration like 250ms, 5s, 1m or 1h (or milliseconds as a number)';
      ctx.issues.push({ code: 'custom', input: value, message });
      return z.NEVER;
    }
    return ms;
  });

const port = z
  .number({ error: 'expected a port number 1-65535' })
  .int({ error: 'expected a port number 1-65535' })
  .min(1, { error: 'expected a port number 1-65535' })
  .max(65535, { error: 'expected a port number 1-65535' });

const ipAddress = z
  .string({ error: 'expected an IPv4 or IPv6 address' })
  .refine((s) => net.isIP(s) !== 0, { error: 'expected an IPv4 or IPv6 address' });

/** DNS names as Kubernetes and ServiceEntries write them (lower case labels, dots). */
const hostname = z
  .string({ error: 'expected a host name like reviews.default.svc.cluster.local' })
  .regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
    error: 'expected a lower-case DNS host name like reviews.default.svc.cluster.local',
  });

const labels = z.record(
  z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/, { error: 'expected a label key like app or version' }),
  z.string({ error: 'expected a label value (a string)' }),
  { error: 'expected a map of labels like {version: v1}' },
);

const nonNegativeInt = (what: string) =>
  z.number({ error: `expected ${what} (a non-negative integer)` }).int({ error: `expected ${what} (a non-negative integer)` }).min(0, {
    error: `expected ${what} (a non-negative integer)`,
  });
const positiveInt = (what: string) =>
  z.number({ error: `expected ${what} (a positive integer)` }).int({ error: `expected ${what} (a positive integer)` }).min(1, {
    error: `expected ${what} (a positive integer)`,
  });
const percent = z
  .number({ error: 'expected a percentage 0-100' })
  .min(0, { error: 'expected a percentage 0-100' })
  .max(100, { error: 'expected a percentage 0-100' });

const protocol = z
  .string({ error: `expected a protocol: ${PROTOCOL_NAMES.join(', ')}` })
  .refine((p) => p.toUpperCase() !== 'UDP', { error: 'UDP is not proxied by sidelane (only TCP traffic is captured); remove the port', abort: true })
  .refine(isProtocolName, { error: `expected a protocol: ${PROTOCOL_NAMES.join(', ')}` });

// ---------------------------------------------------------------------------------------------------------------
// Matching (Istio's StringMatch; regular expressions must match the whole value, as RE2's FullMatch does)

function validRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const regex = z.string().refine(validRegex, { error: 'expected a valid regular expression (JavaScript syntax)' });

const exactlyOne =
  (keys: readonly string[]) =>
  (value: Record<string, unknown>): boolean =>
    keys.filter((k) => value[k] !== undefined).length === 1;

export const StringMatchSchema = z
  .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: regex.optional() })
  .refine(exactlyOne(['exact', 'prefix', 'regex']), { error: 'expected exactly one of exact, prefix, regex' });

export const HeaderMatchSchema = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: regex.optional(),
    present: z.boolean({ error: 'expected true or false' }).optional(),
  })
  .refine(exactlyOne(['exact', 'prefix', 'regex', 'present']), {
    error: 'expected exactly one of exact, prefix, regex, present',
  });

const headerName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z:]+$/, { error: 'expected an HTTP header name' });

export const HttpMatchSchema = z.strictObject({
  name: z.string().optional(),
  uri: StringMatchSchema.optional(),
  method: StringMatchSchema.optional(),
  authority: StringMatchSchema.optional(),
  headers: z.record(headerName, HeaderMatchSchema).optional(),
  queryParams: z.record(z.string().min(1), HeaderMatchSchema).optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// Cluster settings (Istio DestinationRule trafficPolicy, flattened): defaults → service → subset

const simplePolicies = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'] as const;
export type SimpleLoadBalancer = (typeof simplePolicies)[number];

export const ConsistentHashSchema = z
  .strictObject({
    httpHeaderName: headerName.optional(),
    httpQueryParameterName: z.string().min(1).optional(),
    useSourceIp: z.literal(true, { error: 'expected true (hash by the client address)' }).optional(),
    minimumRingSize: z.number().int().min(1, { error: 'expected a ring size of at least 1' }).max(8_388_608, {
      error: 'expected a ring size of at most 8388608',
    }).optional(),
  })
  .refine(exactlyOne(['httpHeaderName', 'httpQueryParameterName', 'useSourceIp']), {
    error: 'expected exactly one hash key: httpHeaderName, httpQueryParameterName or useSourceIp',
  });

const loadBalancer = z.union(
  [
    z.enum(simplePolicies),
    z.strictObject({ simple: z.enum(simplePolicies, { error: `expected one of ${simplePolicies.join(', ')}` }) }),
    z.strictObject({ consistentHash: ConsistentHashSchema }),
  ],
  { error: `expected ${simplePolicies.join(', ')}, {simple: …} or {consistentHash: {httpHeaderName | httpQueryParameterName | useSourceIp}}` },
);

export const CircuitBreakersSchema = z.strictObject({
  maxConnections: positiveInt('a connection count').optional(),
  maxPendingRequests: nonNegativeInt('a request count').optional(),
  maxRequests: positiveInt('a request count').optional(),
  maxRetries: nonNegativeInt('a retry count').optional(),
  retryBudget: z
    .strictObject({
      budgetPercent: percent.optional(),
      minRetryConcurrency: nonNegativeInt('a retry count').optional(),
    })
    .optional(),
});

export const OutlierDetectionSchema = z.strictObject({
  consecutive5xxErrors: nonNegativeInt('an error count').optional(),
  consecutiveGatewayErrors: nonNegativeInt('an error count').optional(),
  interval: duration.optional(),
  baseEjectionTime: duration.optional(),
  maxEjectionTime: duration.optional(),
  maxEjectionPercent: percent.optional(),
});

const clusterSettings = {
  loadBalancer: loadBalancer.optional(),
  connectTimeout: duration.optional(),
  idleTimeout: duration.optional(),
  maxRequestsPerConnection: nonNegativeInt('a request count').optional(),
  circuitBreakers: CircuitBreakersSchema.optional(),
  outlierDetection: OutlierDetectionSchema.optional(),
};

// ---------------------------------------------------------------------------------------------------------------
// Retries and timeouts (route level, with mesh-wide defaults)

/** Envoy's retry_on conditions (the gRPC and HTTP/2 ones are accepted and never fire over HTTP/1.1). */
export const RETRY_CONDITIONS = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'retriable-status-codes',
  'refused-stream',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
  'envoy-ratelimited',
] as const;

const retryOn = z
  .union([z.string(), z.array(z.string())], { error: 'expected a comma-separated list of retry conditions' })
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))
  .refine((list) => list.every((c) => (RETRY_CONDITIONS as readonly string[]).includes(c) || /^[1-5]\d\d$/.test(c)), {
    error: `expected retry conditions among ${RETRY_CONDITIONS.join(', ')} or HTTP status codes like 503`,
  });

export const RetriesSchema = z.strictObject({
  attempts: nonNegativeInt('a number of retries'),
  perTryTimeout: duration.optional(),
  retryOn: retryOn.optional(),
  retriableStatusCodes: z.array(z.number().int().min(100).max(599, { error: 'expected an HTTP status code' })).optional(),
  backoff: z.strictObject({ baseInterval: duration.optional(), maxInterval: duration.optional() }).optional(),
});

// ---------------------------------------------------------------------------------------------------------------
// Services (the registry) and routes (VirtualService-like)

export const ServicePortSchema = z.strictObject({
  port,
  protocol: protocol.optional(),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'expected a port name like http or grpc-api' }).optional(),
  targetPort: port.optional(),
});

export const EndpointSchema = z.strictObject({
  address: ipAddress,
  port: port.optional(),
  ports: z.record(z.string(), port).optional(),
  labels: labels.optional(),
  weight: positiveInt('a weight').max(128, { error: 'expected a weight 1-128' }).optional(),
});

export const SubsetSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, { error: 'expected a subset name like v1' }),
  labels: labels.refine((l) => Object.keys(l).length > 0, { error: 'expected at least one label' }),
  ...clusterSettings,
});

export const ServiceSchema = z.strictObject({
  host: hostname,
  addresses: z.array(ipAddress).optional(),
  ports: z.array(ServicePortSchema).min(1, { error: 'expected at least one port' }),
  endpoints: z.array(EndpointSchema).optional(),
  subsets: z.array(SubsetSchema).optional(),
  ...clusterSettings,
});

const subsetRef = z.union([z.string().min(1), labels], { error: 'expected a subset name or a label map like {version: v1}' });

export const DestinationSchema = z.strictObject({
  host: hostname.optional(),
  port: port.optional(),
  subset: subsetRef.optional(),
});

export const RouteDestinationSchema = z
  .strictObject({
    destination: DestinationSchema.optional(),
    host: hostname.optional(),
    port: port.optional(),
    subset: subsetRef.optional(),
    weight: nonNegativeInt('a weight').optional(),
  })
  .refine((d) => d.destination === undefined || (d.host === undefined && d.port === undefined && d.subset === undefined), {
    error: 'expected either destination: {host, port, subset} or host/port/subset directly, not both',
  });

export const HttpRouteSchema = z.strictObject({
  name: z.string().min(1).optional(),
  match: z.array(HttpMatchSchema).min(1, { error: 'expected at least one match (or leave match out to match everything)' }).optional(),
  route: z.array(RouteDestinationSchema).min(1, { error: 'expected at least one destination' }),
  timeout: duration.optional(),
  retries: RetriesSchema.optional(),
});

export const TcpRouteSchema = z.strictObject({
  route: z.array(RouteDestinationSchema).min(1, { error: 'expected at least one destination' }),
});

export const RouteRuleSchema = z
  .strictObject({
    host: hostname,
    port: port.optional(),
    http: z.array(HttpRouteSchema).optional(),
    tcp: z.array(TcpRouteSchema).max(1, { error: 'expected one tcp route (TCP is routed by port only; use weights for splits)' }).optional(),
  })
  .refine((r) => r.http !== undefined || r.tcp !== undefined, { error: 'expected http or tcp routes' });

export const InboundPortSchema = z.strictObject({
  port,
  protocol: protocol.optional(),
  name: z.string().optional(),
  connectTimeout: duration.optional(),
  idleTimeout: duration.optional(),
  circuitBreakers: CircuitBreakersSchema.optional(),
  timeout: duration.optional(),
});

export const DefaultsSchema = z.strictObject({
  ...clusterSettings,
  timeout: duration.optional(),
  retries: RetriesSchema.optional(),
  protocolDetectionTimeout: duration.optional(),
});

export const WorkloadSchema = z.strictObject({
  name: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  serviceAccount: z.string().min(1).optional(),
  labels: labels.optional(),
});

export const ConfigSchema = z.strictObject({
  outboundTrafficPolicy: z.enum(['ALLOW_ANY', 'REGISTRY_ONLY'], { error: 'expected ALLOW_ANY or REGISTRY_ONLY' }).optional(),
  workload: WorkloadSchema.optional(),
  defaults: DefaultsSchema.optional(),
  services: z.array(ServiceSchema).optional(),
  routes: z.array(RouteRuleSchema).optional(),
  inbound: z.strictObject({ ports: z.array(InboundPortSchema).optional() }).optional(),
});

export type SidelaneConfig = z.output<typeof ConfigSchema>;
export type ServiceConfig = z.output<typeof ServiceSchema>;
export type ServicePortConfig = z.output<typeof ServicePortSchema>;
export type EndpointConfig = z.output<typeof EndpointSchema>;
export type SubsetConfig = z.output<typeof SubsetSchema>;
export type RouteRuleConfig = z.output<typeof RouteRuleSchema>;
export type HttpRouteConfig = z.output<typeof HttpRouteSchema>;
export type HttpMatchConfig = z.output<typeof HttpMatchSchema>;
export type StringMatchConfig = z.output<typeof StringMatchSchema>;
export type HeaderMatchConfig = z.output<typeof HeaderMatchSchema>;
export type RouteDestinationConfig = z.output<typeof RouteDestinationSchema>;
export type RetriesConfig = z.output<typeof RetriesSchema>;
export type CircuitBreakersConfig = z.output<typeof CircuitBreakersSchema>;
export type OutlierDetectionConfig = z.output<typeof OutlierDetectionSchema>;
export type LoadBalancerConfig = z.output<typeof loadBalancer>;
export type InboundPortConfig = z.output<typeof InboundPortSchema>;
export type DefaultsConfig = z.output<typeof DefaultsSchema>;
export type WorkloadConfig = z.output<typeof WorkloadSchema>;

/** The settings a cluster inherits (defaults → service → subset). */
export interface ClusterSettingsConfig {
  readonly loadBalancer?: LoadBalancerConfig;
  readonly connectTimeout?: number;
  readonly idleTimeout?: number;
  readonly maxRequestsPerConnection?: number;
  readonly circuitBreakers?: CircuitBreakersConfig;
  readonly outlierDetection?: OutlierDetectionConfig;
}
