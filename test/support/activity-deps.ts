import type { ActivityDeps } from '../../src/activities';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import type { Adapters } from '../../src/main/wiring';

/** The activities' dependencies over a real store (tests of the activities themselves): no links, default verification. */
export const activityDeps = (a: Adapters): ActivityDeps => ({
  registry: a.registry,
  rollbacks: a.rollbacks,
  monitors: a.monitors,
  metrics: a.metrics,
  notifier: a.notifier,
  clock: a.clock,
  verification: DEFAULT_VERIFICATION,
  links: () => ({}),
});
