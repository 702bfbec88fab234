import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/main/config';

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: unknown;
  ports?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
}
const ROOT = path.join(__dirname, '../..');
const text = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, Service> };
const svc = (name: string): Service => compose.services[name]!;

/** Compose interpolation as a user's shell would do it, with the password they must provide. */
const interpolate = (v: string): string =>
  v.replace(/\$\{POSTGRES_PASSWORD:\?[^}]*\}/g, 's3cret').replace(/\$\{PROMPTBACK_AUTH_TOKENS:-\}/g, '');

describe('docker-compose.yml (no Docker engine here: validated as data; npm run test:cluster proves the same shape)', () => {
  it('has Postgres, the Temporal schema job, the production server, its setup job and Web UI, and promptback worker and API', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'api',
      'postgres',
      'temporal',
      'temporal-admin',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
    expect(svc('worker').command).toEqual(['npm', 'run', 'worker']);
    expect(svc('api').command).toEqual(['npm', 'run', 'api']);
  });

  it('runs at least two workers, as the production guide asks, with no published port in the way of scaling', () => {
    expect(svc('worker').deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(svc('worker').ports).toBeUndefined();
  });

  it('runs the production Temporal server of the version the cluster profile builds, with the config that profile uses', () => {
    const setupCluster = fs.readFileSync(path.join(ROOT, 'scripts/setup-cluster.sh'), 'utf8');
    const version = /VERSION=(\S+)/.exec(setupCluster)![1];
    expect(svc('temporal').image).toBe(`temporalio/server:${version}`);
    expect(svc('temporal-schema').image).toBe(`temporalio/admin-tools:${version}`);
    expect(svc('temporal').entrypoint).toEqual(expect.arrayContaining(['temporal-server', '--env', 'promptback', 'start']));
    expect(svc('temporal').volumes).toContain('./deploy/temporal/config:/etc/temporal/config:ro');
    expect(fs.existsSync(path.join(ROOT, 'deploy/temporal/config/promptback.yaml'))).toBe(true);
  });

  it('sets up schema and search attributes with the script the cluster profile runs, which fails loudly', () => {
    expect(svc('temporal-schema').entrypoint).toEqual(['sh', '/promptback/setup.sh', 'schema']);
    expect(svc('temporal-admin').entrypoint).toEqual(['sh', '/promptback/setup.sh', 'namespace', 'default']);
    const script = fs.readFileSync(path.join(ROOT, 'deploy/temporal/setup.sh'), 'utf8');
    expect(script).toMatch(/^set -eu$/m);
    expect(script).not.toMatch(/\|\| true/);
    for (const attr of ['PromptName', 'RollbackSeverity', 'RollbackState']) expect(script).toContain(`--name ${attr} --type Keyword`);
    expect(fs.readFileSync(path.join(ROOT, 'test/support/cluster.ts'), 'utf8')).toContain("'deploy/temporal/setup.sh'");
  });

  it('publishes no unauthenticated Temporal frontend, and the Web UI only on loopback', () => {
    expect(svc('temporal').ports).toBeUndefined();
    expect(svc('temporal-ui').ports).toEqual(['127.0.0.1:8233:8080']);
  });

  it('ships no password: every credential comes from the environment and is required', () => {
    expect(text).not.toMatch(/POSTGRES_PASSWORD:\s*['"]?[A-Za-z0-9]/);
    expect(text).toContain('${POSTGRES_PASSWORD:?');
    expect(fs.readFileSync(path.join(ROOT, 'deploy/temporal/config/promptback.yaml'), 'utf8')).toMatch(
      /password: \{\{ env "POSTGRES_PASSWORD"/,
    );
  });

  it.each(['worker', 'api'])('the %s environment passes promptback’s own start-up validation', (name) => {
    const env = Object.fromEntries(Object.entries(svc(name).environment!).map(([k, v]) => [k, interpolate(String(v))]));
    const config = loadConfig(env);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.databaseUrl).toBe('postgres://promptback:s3cret@postgres:5432/promptback');
  });
});
