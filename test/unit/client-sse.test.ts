import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../packages/client/src/sse';

/** Feeds `chunks` to a fresh parser; returns what it dispatched. */
function parse(chunks: string[]): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = new SseParser(
    (e) => events.push(e),
    (c) => comments.push(c),
  );
  for (const c of chunks) p.push(c);
  return { events, comments };
}

const STREAM =
  'retry: 1000\n\n' +
  'id: 1-aaaa\nevent: version\ndata: {"version":"v1"}\n\n' +
  ': heartbeat\n\n' +
  'event: version\ndata: line one\ndata:line two\ndata\n\n' +
  'id: 2-bbbb\ndata: plain\n\n' +
  'event: ignored-without-data\n\n' +
  'id: 3-cc\0cc\ndata: id with NUL is ignored\n\n' +
  'data: unterminated';

const EXPECTED: SseEvent[] = [
  { id: '1-aaaa', event: 'version', data: '{"version":"v1"}' },
  { id: '1-aaaa', event: 'version', data: 'line one\nline two\n' },
  { id: '2-bbbb', event: 'message', data: 'plain' },
  { id: '2-bbbb', event: 'message', data: 'id with NUL is ignored' },
];

describe('the SDK’s event-stream parser', () => {
  it('dispatches events with their last id, joins data lines, reports comments, and holds an unterminated event', () => {
    const { events, comments } = parse([STREAM]);
    expect(events).toEqual(EXPECTED);
    expect(comments).toEqual(['heartbeat']);
  });

  it('reads CRLF and lone CR line ends like LF', () => {
    expect(parse([STREAM.replaceAll('\n', '\r\n')]).events).toEqual(EXPECTED);
    expect(parse([STREAM.replaceAll('\n', '\r')]).events).toEqual(EXPECTED);
  });

  it('gives the same events however the stream is cut into chunks, even between CR and LF', () => {
    for (const text of [STREAM, STREAM.replaceAll('\n', '\r\n'), STREAM.replaceAll('\n', '\r')]) {
      expect(parse(text.split('')).events).toEqual(EXPECTED);
      for (let cut = 1; cut < text.length; cut += 7) expect(parse([text.slice(0, cut), text.slice(cut)]).events).toEqual(EXPECTED);
    }
  });
});
