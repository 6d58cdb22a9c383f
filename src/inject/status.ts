/**
 * The `sidelane.io/status` annotation: a JSON record of exactly what injection added to a pod (containers,
 * volumes, env, annotations), so that re-injection can take it out first and injecting twice equals once.
 */
import { z } from 'zod';
import { InjectionError } from './injection-error';

export const STATUS_ANNOTATION = 'sidelane.io/status';

const StatusSchema = z.object({
  version: z.string(),
  mode: z.enum(['tproxy', 'redirect', 'none']),
  outbound: z.enum(['hook+tproxy', 'hook', 'tproxy', 'none']),
  nativeSidecar: z.boolean(),
  initContainers: z.array(z.string()),
  containers: z.array(z.string()),
  volumes: z.array(z.string()),
  appContainers: z.array(z.string()),
  env: z.array(z.string()),
  annotations: z.array(z.string()),
});

export type InjectionStatus = z.infer<typeof StatusSchema>;

/** Fixed key order, no whitespace: the annotation is compared byte for byte by the idempotency test. */
export function formatStatus(s: InjectionStatus): string {
  const ordered: InjectionStatus = {
    version: s.version,
    mode: s.mode,
    outbound: s.outbound,
    nativeSidecar: s.nativeSidecar,
    initContainers: s.initContainers,
    containers: s.containers,
    volumes: s.volumes,
    appContainers: s.appContainers,
    env: s.env,
    annotations: s.annotations,
  };
  return JSON.stringify(ordered);
}

export function parseStatus(raw: unknown, workload: string): InjectionStatus {
  let json: unknown;
  try {
    json = typeof raw === 'string' ? JSON.parse(raw) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = StatusSchema.safeParse(json);
  if (!parsed.success) {
    throw new InjectionError(
      `annotation ${STATUS_ANNOTATION} is not a status sidelane wrote (expected its JSON record of what was injected); inject the original manifest, or delete the annotation and the injected containers`,
      { workload, annotation: STATUS_ANNOTATION },
    );
  }
  return parsed.data;
}
