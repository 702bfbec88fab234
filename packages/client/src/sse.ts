/** One server-sent event. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * An incremental text/event-stream parser (the WHATWG rules this SDK needs: id, event, data, comments).
 * `onEvent` gets each complete event; `onComment` each comment line (heartbeats).
 */
export class SseParser {
  private buffer = '';
  private id: string | undefined;
  private event = '';
  /** The data lines so far, joined by \n (undefined: no data line yet). */
  private data: string | undefined;

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onComment: (text: string) => void = () => {},
  ) {}

  push(chunk: string): void {
    // Lines are cut with indexOf over the whole chunk, without re-slicing the rest after each line: an event is one
    // chunk, and a process holding hundreds of streams parses hundreds of them per switch.
    const buf = this.buffer === '' ? chunk : this.buffer + chunk;
    let start = 0;
    let cr = buf.indexOf('\r');
    for (;;) {
      const lf = buf.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = buf.indexOf('\r', start);
      let end: number;
      let width = 1;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
        if (cr === buf.length - 1) break;
        end = cr;
        if (lf === cr + 1) width = 2;
      } else if (lf !== -1) end = lf;
      else break;
      this.line(buf.slice(start, end));
      start = end + width;
    }
    this.buffer = start === 0 ? buf : buf.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data !== undefined) {
        const e: SseEvent = { event: this.event || 'message', data: this.data };
        if (this.id !== undefined) e.id = this.id;
        this.onEvent(e);
      }
      this.event = '';
      this.data = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return this.onComment(line.slice(1).trim());
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const from = colon < 0 ? line.length : line.charCodeAt(colon + 1) === 32 /* space */ ? colon + 2 : colon + 1;
    const value = line.slice(from);
    if (field === 'data') this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}
