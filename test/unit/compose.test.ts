import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/main/config';

const compose = parse(fs.readFileSync(path.join(__dirname, '../../docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; depends_on?: unknown }
  >;
};

describe('docker-compose.yml (no Docker engine here: validated as data)', () => {
  it('has the Temporal cluster, its Web UI, Postgres, and promptback worker and API', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'temporal', 'temporal-admin', 'temporal-ui', 'worker']);
    expect(compose.services.worker!.command).toEqual(['npm', 'run', 'worker']);
    expect(compose.services.api!.command).toEqual(['npm', 'run', 'api']);
  });

  it.each(['worker', 'api'])('the %s environment passes promptback’s own start-up validation', (name) => {
    const env = { ...compose.services[name]!.environment, AUTH_TOKENS: '' };
    const config = loadConfig(env);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.databaseUrl).toMatch(/^postgres:\/\//);
  });

  it('registers the three search attributes the workflows upsert', () => {
    const cmd = compose.services['temporal-admin']!.command!.join(' ');
    for (const attr of ['PromptName', 'RollbackSeverity', 'RollbackState']) expect(cmd).toContain(`--name ${attr} --type Keyword`);
  });
});
