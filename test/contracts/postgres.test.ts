import { afterAll, beforeAll, describe, expect } from 'vitest';
import { SqlMetricsStore } from '../../src/adapters/metrics/sql';
import { SqlRegistry } from '../../src/adapters/registry/sql';
import { SqlRollbackStore } from '../../src/adapters/rollbacks/sql';
import { openDb } from '../../src/adapters/sql/db';
import { findPostgres, startPostgres, type PgInstance } from '../support/postgres';
import { advancingClock } from '../support/clock';
import { registryContract } from './registry.contract';

// In CI the server must be there (`npm run setup` installs it); on a laptop without it the suite says so and skips.
const available = findPostgres() !== undefined || process.env.CI === 'true';

describe.runIf(available)('the same store contract on PostgreSQL', () => {
  let instance: PgInstance;
  beforeAll(async () => {
    instance = await startPostgres();
  }, 60_000);
  afterAll(() => instance?.stop());

  registryContract('postgres', async () => {
    const db = await openDb(await instance.newDatabase());
    expect(db.dialect).toBe('postgres');
    const clock = advancingClock();
    return {
      registry: new SqlRegistry(db.kysely, clock),
      rollbacks: new SqlRollbackStore(db.kysely),
      metrics: new SqlMetricsStore(db.kysely),
      close: () => db.close(),
    };
  });
});
