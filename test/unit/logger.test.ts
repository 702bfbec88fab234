import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/main/config';
import { createLogger, logFormat, temporalSdkLogger } from '../../src/main/logger';

/** A destination that keeps what the logger wrote, line by line. */
function sink() {
  const lines: string[] = [];
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l !== ''));
      cb();
    },
  });
  return { stream, lines };
}

describe('log format', () => {
  it.each([
    [undefined, true, 'pretty'],
    [undefined, false, 'json'],
    ['', true, 'pretty'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
    [' json ', false, 'json'],
  ] as const)('LOG_FORMAT=%j, stdout a terminal: %s → %s', (value, tty, expected) => {
    expect(logFormat({ LOG_FORMAT: value }, tty)).toBe(expected);
  });

  it('a bad LOG_FORMAT stops start-up naming the variable and the choices', () => {
    expect(() => logFormat({ LOG_FORMAT: 'yaml' }, true)).toThrow(ConfigError);
    expect(() => logFormat({ LOG_FORMAT: 'yaml' }, true)).toThrow(/^LOG_FORMAT: must be one of pretty, json \(got "yaml"\)/);
  });

  it('json writes one JSON object a line; pretty writes the message for people, not JSON', () => {
    const j = sink();
    createLogger('info', 'promptback-api', { format: 'json', destination: j.stream }).info(
      { url: 'http://127.0.0.1:8000' },
      'API listening',
    );
    expect(j.lines).toHaveLength(1);
    expect(JSON.parse(j.lines[0]!)).toMatchObject({
      level: 30,
      name: 'promptback-api',
      msg: 'API listening',
      url: 'http://127.0.0.1:8000',
    });

    const p = sink();
    createLogger('info', 'promptback-api', { format: 'pretty', destination: p.stream }).info(
      { url: 'http://127.0.0.1:8000' },
      'API listening',
    );
    expect(p.lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(promptback-api\): API listening$/);
    expect(p.lines.join('\n')).toContain('url: "http://127.0.0.1:8000"');
    expect(() => JSON.parse(p.lines[0]!) as unknown).toThrow();
  });
});

describe('Temporal SDK logs', () => {
  it("the SDK's own start-up info (worker, core, webpack) is debug; activities' info, and every warning, stay visible", () => {
    const s = sink();
    const sdk = temporalSdkLogger(createLogger('info', 'promptback-worker', { format: 'json', destination: s.stream }));
    sdk.info('Workflow bundle created', { sdkComponent: 'worker', size: '1.2MB' });
    sdk.info('asset workflow-bundle-f2b4.js 1.2 MiB [emitted]\nwebpack 5.98.0 compiled successfully', { sdkComponent: 'worker' });
    sdk.info('Worker state changed', { sdkComponent: 'worker', state: 'RUNNING' });
    sdk.log('INFO', 'Initializing worker', { sdkComponent: 'core' });
    sdk.info('Activity completed', { sdkComponent: 'activity', activityType: 'switchVersion' });
    sdk.warn('Activity failed', { sdkComponent: 'activity' });
    // The monitor-checks worker polls activities only, by design.
    sdk.warn('No workflows registered, not polling for workflow tasks', { sdkComponent: 'worker', taskQueue: 'promptback-monitor-checks' });
    sdk.error('Worker failed', { sdkComponent: 'worker' });

    const seen = s.lines.map((l) => JSON.parse(l) as { level: number; msg: string; component: string });
    expect(seen.map((l) => [l.level, l.msg])).toEqual([
      [30, 'Activity completed'],
      [40, 'Activity failed'],
      [50, 'Worker failed'],
    ]);
    expect(seen.every((l) => l.component === 'temporal-sdk')).toBe(true);
  });

  it('at debug level the quietened lines are there', () => {
    const s = sink();
    temporalSdkLogger(createLogger('debug', 'w', { format: 'json', destination: s.stream })).info('Workflow bundle created', {
      sdkComponent: 'worker',
    });
    expect(JSON.parse(s.lines[0]!)).toMatchObject({ level: 20, msg: 'Workflow bundle created', sdkComponent: 'worker' });
  });
});

describe('access lines', () => {
  it('pretty: one line a request, its message saying it all; json: the fields', () => {
    const p = sink();
    const access = { method: 'GET', path: '/api/prompts', status: 200, duration_ms: 3.5, actor: 'alice' };
    createLogger('info', 'promptback-api', { format: 'pretty', destination: p.stream }).info(
      { access },
      'GET /api/prompts 200 3.5 ms alice',
    );
    expect(p.lines).toHaveLength(1);
    expect(p.lines[0]).toMatch(/INFO \(promptback-api\): GET \/api\/prompts 200 3\.5 ms alice$/);

    const j = sink();
    createLogger('info', 'promptback-api', { format: 'json', destination: j.stream }).info({ access }, 'GET /api/prompts 200 3.5 ms alice');
    expect(JSON.parse(j.lines[0]!)).toMatchObject({ access });
  });
});
