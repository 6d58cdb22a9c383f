/** The registry of benchmark scenarios, in report order (one scenario per file, as fastify's benchmarks/). */
import type { ScenarioName } from '../settings';
import { bulkScenario } from './bulk-throughput';
import { churnScenario } from './churn';
import { conntrackScenario } from './conntrack';
import { fixedRateScenario } from './fixed-rate';
import { idleConnectionsScenario } from './idle-connections';
import { keepAliveScenario } from './keep-alive';
import { l7Scenario } from './l7-routing';
import type { Scenario } from './scenario';

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  'keep-alive': keepAliveScenario,
  'fixed-rate': fixedRateScenario,
  churn: churnScenario,
  'bulk-1': bulkScenario(1),
  'bulk-8': bulkScenario(8),
  'idle-connections': idleConnectionsScenario,
  conntrack: conntrackScenario,
  l7: l7Scenario,
};
