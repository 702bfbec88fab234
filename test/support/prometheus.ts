import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

/** The Prometheus server binary (Debian's package, installed by scripts/setup.sh), if this machine has one. */
export const prometheusBinary: string | undefined = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** Latency histogram bounds of the test exporter, in seconds (as Prometheus client libraries export them). */
const LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface Series {
  requests: number;
  errors: number;
  latency: number[];
  latency_sum: number;
  quality_sum: number;
  quality_count: number;
}

/**
 * A loopback exporter the test drives, shaped like a typical LLM gateway's: counters of requests and errors per
 * prompt and version, a request-duration histogram and quality-score sum/count.
 */
export class TestExporter {
  private readonly series = new Map<string, { prompt: string; version: string; s: Series }>();
  private server: http.Server | undefined;
  port = 0;

  /** Serves `n` requests, `errors` of them failed, each taking `latency_ms`, with an optional quality score. */
  record(prompt: string, version: string, r: { n: number; errors: number; latency_ms: number; quality?: number }): void {
    const s = this.get(prompt, version);
    s.requests += r.n;
    s.errors += r.errors;
    s.latency_sum += (r.n * r.latency_ms) / 1000;
    LATENCY_BUCKETS_S.forEach((le, i) => {
      if (r.latency_ms / 1000 <= le) s.latency[i]! += r.n;
    });
    if (r.quality !== undefined) {
      s.quality_sum += r.n * r.quality;
      s.quality_count += r.n;
    }
  }

  /** Makes the series exist (at zero), as a client library does once a version starts serving. */
  touch(prompt: string, version: string): void {
    this.get(prompt, version);
  }

  private get(prompt: string, version: string): Series {
    const k = `${prompt}\u0000${version}`;
    let e = this.series.get(k);
    if (!e) {
      e = {
        prompt,
        version,
        s: { requests: 0, errors: 0, latency: LATENCY_BUCKETS_S.map(() => 0), latency_sum: 0, quality_sum: 0, quality_count: 0 },
      };
      this.series.set(k, e);
    }
    return e.s;
  }

  text(): string {
    const out: string[] = [
      '# TYPE llm_requests_total counter',
      '# TYPE llm_request_errors_total counter',
      '# TYPE llm_request_duration_seconds histogram',
      '# TYPE llm_quality_score summary',
    ];
    for (const { prompt, version, s } of this.series.values()) {
      const l = `prompt="${prompt}",version="${version}"`;
      out.push(`llm_requests_total{${l}} ${s.requests}`, `llm_request_errors_total{${l}} ${s.errors}`);
      LATENCY_BUCKETS_S.forEach((le, i) => out.push(`llm_request_duration_seconds_bucket{${l},le="${le}"} ${s.latency[i]}`));
      out.push(
        `llm_request_duration_seconds_bucket{${l},le="+Inf"} ${s.requests}`,
        `llm_request_duration_seconds_sum{${l}} ${s.latency_sum}`,
        `llm_request_duration_seconds_count{${l}} ${s.requests}`,
        `llm_quality_score_sum{${l}} ${s.quality_sum}`,
        `llm_quality_score_count{${l}} ${s.quality_count}`,
      );
    }
    return out.join('\n') + '\n';
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.text());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** PromQL for the test exporter, as an operator would write it for a typical exporter. */
export const EXPORTER_QUERIES = {
  requests: 'sum(increase(llm_requests_total{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
  errors: 'sum(increase(llm_request_errors_total{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
  latency_p99_ms:
    '1000 * histogram_quantile(0.99, sum by (le) (increase(llm_request_duration_seconds_bucket{prompt="{{prompt}}",version="{{version}}"}[{{window}}])))',
  latency_p50_ms:
    '1000 * histogram_quantile(0.5, sum by (le) (increase(llm_request_duration_seconds_bucket{prompt="{{prompt}}",version="{{version}}"}[{{window}}])))',
  quality_mean:
    'sum(increase(llm_quality_score_sum{prompt="{{prompt}}",version="{{version}}"}[{{window}}])) / sum(increase(llm_quality_score_count{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
  quality_samples: 'sum(increase(llm_quality_score_count{prompt="{{prompt}}",version="{{version}}"}[{{window}}]))',
};

export interface PrometheusServer {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Waits until a scrape of the exporter has landed that is newer than now. */
  waitForScrape(): Promise<void>;
  stop(): Promise<void>;
}

/** A real Prometheus on a free loopback port, scraping `targetPort` every second, with its own temp storage. */
export async function startPrometheus(targetPort: number): Promise<PrometheusServer> {
  if (!prometheusBinary) throw new Error('prometheus is not installed (npm run setup installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-prom-'));
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: llm',
      '    scrape_interval: 1s',
      '    scrape_timeout: 1s',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${targetPort}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    prometheusBinary,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const keep = (b: Buffer) => {
    lines.push(b.toString());
    if (lines.length > 50) lines.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const query = async (q: string): Promise<{ value: [number, string] }[]> => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
    return ((await r.json()) as { data: { result: { value: [number, string] }[] } }).data.result;
  };
  const server: PrometheusServer = {
    url,
    child,
    output: () => lines.join(''),
    async waitForScrape() {
      const after = Date.now() / 1000;
      for (let i = 0; i < 100; i++) {
        const r = await query('timestamp(up{job="llm"})').catch(() => []);
        if (r[0] && Number(r[0].value[1]) > after) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`no scrape within 10 s\n${server.output()}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i > 150 || child.exitCode !== null) {
      await server.stop();
      throw new Error(`prometheus did not start\n${lines.join('')}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return server;
}
