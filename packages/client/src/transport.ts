// CommonJS's module-local require (undefined in ES modules and browsers); declared here, not globally.
declare const require: ((id: string) => unknown) | undefined;

/** Callbacks of one event stream. */
export interface StreamHandlers {
  /** The response status, once headers arrived. */
  onOpen(status: number): void;
  onData(text: string): void;
  /** Always called once: the stream ended, failed or was aborted. */
  onClose(error?: Error): void;
}

/** Opens one long-lived GET and streams its body as text. */
export type OpenStream = (url: string, headers: Record<string, string>, h: StreamHandlers) => { abort(): void };

interface NodeHttp {
  get(url: string, opts: { headers: Record<string, string> }, cb: (res: NodeResponse) => void): NodeRequest;
}
interface NodeRequest {
  on(event: 'error', cb: (e: Error) => void): void;
  destroy(): void;
}
interface NodeResponse {
  statusCode?: number;
  setEncoding(enc: 'utf8'): void;
  on(event: 'data', cb: (chunk: string) => void): void;
  on(event: 'end' | 'close', cb: () => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
}

/**
 * Node's own http client: an event stream costs a socket read and a string per chunk. fetch (undici) is kept for
 * other runtimes and when a fetch is passed in, but costs several promise hops per chunk through web streams, which
 * matters when one process holds hundreds of streams and a switch arrives on all of them at once.
 */
export function nodeStream(): OpenStream | undefined {
  const isNode = Boolean((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node);
  const req = isNode && typeof require === 'function' ? require : undefined;
  if (!req) return undefined;
  const http = req('node:http') as NodeHttp;
  const https = req('node:https') as NodeHttp;
  return (url, headers, h) => {
    let closed = false;
    const close = (e?: Error) => {
      if (closed) return;
      closed = true;
      h.onClose(e);
    };
    const r = (url.startsWith('https:') ? https : http).get(url, { headers }, (res) => {
      h.onOpen(res.statusCode ?? 0);
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (!closed) h.onData(chunk);
      });
      res.on('end', () => close());
      res.on('close', () => close());
      res.on('error', (e) => close(e));
    });
    r.on('error', (e) => close(e));
    return {
      abort() {
        r.destroy();
        close(new Error('aborted'));
      },
    };
  };
}

/** The same over any fetch. */
export function fetchStream(f: typeof fetch): OpenStream {
  return (url, headers, h) => {
    const ctl = new AbortController();
    let closed = false;
    const close = (e?: Error) => {
      if (closed) return;
      closed = true;
      h.onClose(e);
    };
    void (async () => {
      try {
        const res = await f(url, { headers, signal: ctl.signal });
        h.onOpen(res.status);
        if (!res.body) return close();
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done || closed) break;
          h.onData(decoder.decode(value, { stream: true }));
        }
        close();
      } catch (e) {
        close(e instanceof Error ? e : new Error(String(e)));
      }
    })();
    return {
      abort() {
        ctl.abort();
        close(new Error('aborted'));
      },
    };
  };
}
