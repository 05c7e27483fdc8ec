// The SSE decoder against a line-by-line reading of the spec (WHATWG HTML "Parsing an event
// stream"), with the bytes cut at every possible boundary: one-line `data:` events take a fast path
// that keeps only where the data sits, so that path must give exactly what the general one gives.
import { describe, expect, it } from 'vitest';
import { SseDecoder, type SseEvent } from '../../src/protocol/sse.js';

interface Plain {
  event: string | undefined;
  data: string;
  id: string | undefined;
  retry: number | undefined;
  hasData: boolean;
  raw: string;
}

/** The spec's algorithm, written the obvious way (whole input at once). */
function reference(text: string): { events: Plain[]; rest: string } {
  const events: Plain[] = [];
  let pos = 0;
  let start = 0;
  let acc = { event: undefined as string | undefined, data: [] as string[], id: undefined as string | undefined, retry: undefined as number | undefined };
  for (;;) {
    const m = /\r\n|\r|\n/.exec(text.slice(pos));
    if (m === null) break;
    const eol = pos + m.index;
    if (m[0] === '\r' && eol + 1 >= text.length) break;
    const line = text.slice(pos, eol);
    pos = eol + m[0].length;
    if (line === '') {
      events.push({ event: acc.event, data: acc.data.join('\n'), id: acc.id, retry: acc.retry, hasData: acc.data.length > 0, raw: text.slice(start, pos) });
      acc = { event: undefined, data: [], id: undefined, retry: undefined };
      start = pos;
      continue;
    }
    if (line.startsWith(':')) continue;
    const c = line.indexOf(':');
    const name = c === -1 ? line : line.slice(0, c);
    let value = c === -1 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') acc.data.push(value);
    else if (name === 'event') acc.event = value;
    else if (name === 'id' && !value.includes('\0')) acc.id = value;
    else if (name === 'retry' && /^\d+$/.test(value)) acc.retry = Number(value);
  }
  return { events, rest: text.slice(start) };
}

function plain(e: SseEvent): Plain {
  return { event: e.event, data: e.data, id: e.id, retry: e.retry, hasData: e.hasData, raw: e.raw.toString('utf8') };
}

function decodeInPieces(bytes: Buffer, cuts: number[]): { events: Plain[]; rest: string } {
  const d = new SseDecoder();
  const events: Plain[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    for (const e of d.push(bytes.subarray(at, c))) events.push(plain(e));
    at = c;
  }
  return { events, rest: d.remainder()?.toString('utf8') ?? '' };
}

const STREAMS: Record<string, string> = {
  openai: 'data: {"choices":[{"delta":{"content":"héllo"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3}}\n\ndata: [DONE]\n\n',
  'no space after the colon': 'data:{"a":1}\n\ndata:\n\ndata: \n\n',
  'several data lines': 'data: one\ndata: two\ndata:three\n\n',
  'named events, ids, retry and comments': ': keep-alive\n\nevent: message_start\nid: 7\nretry: 150\ndata: {"x":1}\n\nevent: ping\n\nretry: soon\nid: a\0b\ndata: z\n\n',
  'bare data field and odd names': 'data\ndata: after\n\ndatum: no\ndata: yes\n\nDATA: upper\n\n',
  'CRLF line ends': 'data: a\r\n\r\nevent: e\r\ndata: b\r\ndata: c\r\n\r\n',
  'CR line ends': 'data: a\r\rdata: b\rdata: c\r\r',
  'an unterminated tail': 'data: whole\n\ndata: {"cut":',
};

describe('SseDecoder', () => {
  for (const [name, text] of Object.entries(STREAMS)) {
    it(`reads "${name}" as the spec does, whatever the chunking`, () => {
      const bytes = Buffer.from(text, 'utf8');
      const want = reference(text);
      expect(decodeInPieces(bytes, [])).toEqual(want);
      for (let cut = 1; cut < bytes.length; cut++) expect(decodeInPieces(bytes, [cut]), `cut at ${cut}`).toEqual(want);
      const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      expect(decodeInPieces(bytes, everyByte)).toEqual(want);
    });
  }

  it('keeps an event readable after later chunks arrive', () => {
    const d = new SseDecoder();
    const [first] = d.push(Buffer.from('data: {"n":1}\n\n'));
    d.push(Buffer.from('data: {"n":2}\n\n'));
    expect(first?.data).toBe('{"n":1}');
    expect(first?.raw.toString()).toBe('data: {"n":1}\n\n');
  });
});
