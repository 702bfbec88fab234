import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/main/config';

const load = (AUTH_TOKENS: string) => loadConfig({ AUTH_TOKENS });

/** The message loadConfig stops start-up with, or undefined when the value is accepted. */
function refusal(AUTH_TOKENS: string): string | undefined {
  try {
    load(AUTH_TOKENS);
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
}

describe('AUTH_TOKENS', () => {
  it('parses actor:role:token entries, comma-separated, spaces around entries ignored', () => {
    expect(load('ada:admin:s3cret-a, olga:operator:s3cret-o ,\ningo:ingest:s3cret-i').tokens).toEqual([
      { actor: 'ada', role: 'admin', token: 's3cret-a' },
      { actor: 'olga', role: 'operator', token: 's3cret-o' },
      { actor: 'ingo', role: 'ingest', token: 's3cret-i' },
    ]);
  });

  it('empty or unset means auth off', () => {
    expect(load('').tokens).toEqual([]);
    expect(loadConfig({}).tokens).toEqual([]);
  });

  const bad: [string, string, RegExp][] = [
    ['a token containing ":" (the split is ambiguous)', 'ada:admin:abc:SECRETPART', /entry 1.*ada.*4 fields/],
    ['a missing token', 'ada:admin:', /entry 1.*ada.*empty token/],
    ['an empty actor', ':admin:SECRETPART', /entry 1.*empty actor/],
    ['an unknown role', 'ada:root:SECRETPART', /entry 1.*ada.*role "root"/],
    ['two fields', 'ada:SECRETPART', /entry 1.*2 fields/],
    ['a duplicate token', 'ada:admin:SECRETPART,olga:operator:SECRETPART', /entries 1 and 2 .*same token/],
    ['a stray comma between entries', 'ada:admin:tok-a,,olga:operator:SECRETPART', /entry 2.*empty/],
    ['a trailing comma', 'ada:admin:SECRETPART,', /entry 2.*empty/],
    ['a leading comma', ',ada:admin:SECRETPART', /entry 1.*empty/],
    ['whitespace inside a token', 'ada:admin:SECRET PART', /entry 1.*ada.*whitespace/],
    ['whitespace around a field', 'ada : admin:SECRETPART', /entry 1.*whitespace/],
    ['a semicolon instead of a comma', 'ada:admin:SECRETPART;olga:operator:tok-o', /entry 1.*ada.*5 fields/],
  ];
  it.each(bad)('%s stops start-up naming AUTH_TOKENS and the entry, never the secret', (_name, value, why) => {
    const msg = refusal(value);
    expect(msg).toBeDefined();
    expect(msg).toMatch(/AUTH_TOKENS/);
    expect(msg).toMatch(why);
    expect(msg).not.toMatch(/SECRET/);
  });
});

describe('PROMETHEUS_URL and MONITOR_BLIND_AFTER_ERRORS', () => {
  it('unset or empty: no Prometheus; set: its base URL without a trailing slash, 3 s per query, blind after 3 errors', () => {
    expect(loadConfig({}).prometheus).toEqual({ url: undefined, timeout_ms: 3000 });
    expect(loadConfig({ PROMETHEUS_URL: '' }).prometheus.url).toBeUndefined();
    expect(loadConfig({ PROMETHEUS_URL: 'http://prometheus:9090/', PROMETHEUS_TIMEOUT_MS: '800' }).prometheus).toEqual({
      url: 'http://prometheus:9090',
      timeout_ms: 800,
    });
    expect(loadConfig({}).monitorBlindAfterErrors).toBe(3);
  });

  it('a value that is not an http(s) URL stops start-up naming the variable', () => {
    expect(() => loadConfig({ PROMETHEUS_URL: 'prometheus:9090' })).toThrow(/PROMETHEUS_URL/);
    expect(() => loadConfig({ PROMETHEUS_URL: 'ftp://prometheus' })).toThrow(/PROMETHEUS_URL: must be an http\(s\) URL/);
    expect(() => loadConfig({ MONITOR_BLIND_AFTER_ERRORS: '0' })).toThrow(/MONITOR_BLIND_AFTER_ERRORS/);
  });
});

describe('storage settings', () => {
  it('default to 1-s metrics for 2 h, 1-min roll-ups for 30 days, outbox 30 days, finished rollbacks 180 days, a pass every 5 min', () => {
    expect(loadConfig({}).storage).toEqual({
      metrics_1s_keep_s: 7_200,
      metrics_1m_keep_s: 30 * 86_400,
      outbox_keep_s: 30 * 86_400,
      rollbacks_keep_s: 180 * 86_400,
      rollup_s: 60,
      every_s: 300,
    });
  });

  it('are read from the environment', () => {
    expect(
      loadConfig({
        RETENTION_METRICS_1S_HOURS: '6',
        METRICS_ROLLUP_S: '300',
        RETENTION_METRICS_ROLLUP_DAYS: '90',
        RETENTION_OUTBOX_DAYS: '7',
        RETENTION_ROLLBACKS_DAYS: '365',
        STORAGE_EVERY_S: '60',
      }).storage,
    ).toEqual({
      metrics_1s_keep_s: 6 * 3600,
      metrics_1m_keep_s: 90 * 86_400,
      outbox_keep_s: 7 * 86_400,
      rollbacks_keep_s: 365 * 86_400,
      rollup_s: 300,
      every_s: 60,
    });
  });

  it.each([
    [{ METRICS_ROLLUP_S: '7' }, /METRICS_ROLLUP_S: must divide an hour/],
    [{ RETENTION_METRICS_1S_HOURS: '0' }, /RETENTION_METRICS_1S_HOURS/],
    [{ RETENTION_METRICS_1S_HOURS: '48', RETENTION_METRICS_ROLLUP_DAYS: '1' }, /RETENTION_METRICS_ROLLUP_DAYS: .*longer/],
    [{ RETENTION_ROLLBACKS_DAYS: 'soon' }, /RETENTION_ROLLBACKS_DAYS/],
  ])('a bad value stops start-up naming the variable: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('SLACK_SIGNING_SECRET / SLACK_USERS', () => {
  it('maps Slack user ids to names; unset means no secret and no names', () => {
    expect(loadConfig({ SLACK_SIGNING_SECRET: 's', SLACK_USERS: 'U123=alice, U456=bob' }).slackActions).toEqual({
      signingSecret: 's',
      users: { U123: 'alice', U456: 'bob' },
    });
    expect(loadConfig({ SLACK_SIGNING_SECRET: '' }).slackActions).toEqual({ signingSecret: undefined, users: {} });
  });

  it('a malformed or repeated entry stops start-up naming SLACK_USERS', () => {
    expect(() => loadConfig({ SLACK_USERS: 'U123:alice' })).toThrow(/SLACK_USERS: entry 1 "U123:alice" is not <Slack user id>=<name>/);
    expect(() => loadConfig({ SLACK_USERS: 'U1=a,U1=b' })).toThrow(/SLACK_USERS: entry 2: U1 is mapped twice/);
  });
});

describe('worker process layout', () => {
  it('a worker polls every task queue unless WORKER_TASK_QUEUES dedicates it to main or rollbacks; anything else stops start-up naming it', () => {
    expect(loadConfig({}).workerTaskQueues).toBe('both');
    expect(loadConfig({ WORKER_TASK_QUEUES: 'rollbacks' }).workerTaskQueues).toBe('rollbacks');
    expect(loadConfig({ WORKER_TASK_QUEUES: 'main' }).workerTaskQueues).toBe('main');
    expect(() => loadConfig({ WORKER_TASK_QUEUES: 'monitors' })).toThrow(/WORKER_TASK_QUEUES/);
  });

  it('monitors check in an activity unless MONITOR_CHECKS=timer, with 10,000 check slots by default; bad values stop start-up naming them', () => {
    expect(loadConfig({})).toMatchObject({ monitorChecks: 'activity', monitorCheckSlots: 10_000 });
    expect(loadConfig({ MONITOR_CHECKS: 'timer', MONITOR_CHECK_SLOTS: '2000' })).toMatchObject({
      monitorChecks: 'timer',
      monitorCheckSlots: 2000,
    });
    expect(() => loadConfig({ MONITOR_CHECKS: 'loop' })).toThrow(/MONITOR_CHECKS/);
    expect(() => loadConfig({ MONITOR_CHECK_SLOTS: '0' })).toThrow(/MONITOR_CHECK_SLOTS/);
    expect(() => loadConfig({ MONITOR_CHECK_SLOTS: 'many' })).toThrow(/MONITOR_CHECK_SLOTS/);
  });

  it('the per-call workflow watchdog is off unless WORKFLOW_DEADLOCK_WATCHDOG=on; a typo stops start-up naming it', () => {
    expect(() => loadConfig({ WORKFLOW_DEADLOCK_WATCHDOG: 'on' })).not.toThrow();
    expect(() => loadConfig({ WORKFLOW_DEADLOCK_WATCHDOG: 'yes' })).toThrow(/WORKFLOW_DEADLOCK_WATCHDOG/);
    expect(() => loadConfig({ WORKFLOW_STALL_EXIT_S: '0' })).not.toThrow();
    expect(() => loadConfig({ WORKFLOW_STALL_EXIT_S: '-1' })).toThrow(/WORKFLOW_STALL_EXIT_S/);
  });
});
