// Measures a streamed chat completion as it arrives without parsing every chunk: a byte scan finds
// event boundaries and tells token-carrying chunks from role-only, finish and usage chunks; only
// the usage chunk (one per response) and error events are JSON-parsed. At thousands of streams a
// JSON.parse per chunk would make the harness the bottleneck it is meant to find.
import { SseDecoder } from '../../protocol/sse.js';

const SEP = Buffer.from('\n\n');
const DATA = Buffer.from('data:');
const DONE = Buffer.from('[DONE]');
const DELTA = Buffer.from('"delta":{');
const CONTENT = Buffer.from('"content":"');
const REASONING_CONTENT = Buffer.from('"reasoning_content":"');
const REASONING = Buffer.from('"reasoning":"');
const TOOL_CALLS = Buffer.from('"tool_calls":[');
const USAGE = Buffer.from('"usage":{');
const CHOICES = Buffer.from('"choices"');
const ERROR = Buffer.from('"error"');
const QUOTE = 0x22;
const CR = 0x0d;

export interface Usage {
  readonly prompt: number;
  readonly completion: number;
  readonly cached: number;
}

export interface ScanSink {
  /** A chunk carrying generated text, reasoning or a tool call arrived at `now`. */
  token(now: number): void;
  usage(u: Usage): void;
  done(): void;
  /** An error event, or bytes that are not an SSE JSON event. */
  bad(kind: 'stream_error' | 'malformed', message: string): void;
}

export class SseScan {
  private carry: Buffer | null = null;
  private generic: SseDecoder | null = null;

  constructor(private readonly sink: ScanSink) {}

  push(chunk: Buffer, now: number): void {
    if (this.generic === null && chunk.indexOf(CR) !== -1) this.generic = new SseDecoder();
    if (this.generic !== null) {
      // CRLF framing is legal but rare: the exact WHATWG decoder handles it.
      if (this.carry !== null) {
        chunk = Buffer.concat([this.carry, chunk]);
        this.carry = null;
      }
      for (const ev of this.generic.push(chunk)) if (ev.hasData) this.event(Buffer.from(`data: ${ev.data}`), now);
      return;
    }
    const buf = this.carry === null ? chunk : Buffer.concat([this.carry, chunk]);
    let start = 0;
    for (;;) {
      const end = buf.indexOf(SEP, start);
      if (end < 0) break;
      if (end > start) this.event(buf.subarray(start, end), now);
      start = end + 2;
    }
    this.carry = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
  }

  /** Bytes left over after the last complete event. */
  get pending(): number {
    return this.carry?.length ?? 0;
  }

  private event(ev: Buffer, now: number): void {
    let d = ev.indexOf(DATA);
    if (d < 0) return; // comments, `event:`/`id:` only
    d += DATA.length;
    if (ev[d] === 0x20) d++;
    if (ev.indexOf(DONE, d) === d) {
      this.sink.done();
      return;
    }
    if (ev[d] !== 0x7b || ev[ev.length - 1] !== 0x7d) {
      this.sink.bad('malformed', `not a JSON event: ${ev.toString('utf8', d, Math.min(ev.length, d + 80))}`);
      return;
    }
    const delta = ev.indexOf(DELTA, d);
    if (delta >= 0 && ev[delta + DELTA.length] !== 0x7d && carriesToken(ev, delta)) this.sink.token(now);
    if (ev.indexOf(USAGE, d) >= 0) this.parseUsage(ev, d);
    else if (delta < 0 && ev.indexOf(CHOICES, d) < 0 && ev.indexOf(ERROR, d) >= 0) {
      this.sink.bad('stream_error', errorMessage(ev.toString('utf8', d)));
    }
  }

  private parseUsage(ev: Buffer, d: number): void {
    let obj: unknown;
    try {
      obj = JSON.parse(ev.toString('utf8', d));
    } catch {
      this.sink.bad('malformed', `usage chunk is not valid JSON: ${ev.toString('utf8', d, Math.min(ev.length, d + 80))}`);
      return;
    }
    const u = (obj as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null } }).usage;
    if (u === undefined || u === null) return;
    this.sink.usage({
      prompt: typeof u.prompt_tokens === 'number' ? u.prompt_tokens : Number.NaN,
      completion: typeof u.completion_tokens === 'number' ? u.completion_tokens : Number.NaN,
      cached: typeof u.prompt_tokens_details?.cached_tokens === 'number' ? u.prompt_tokens_details.cached_tokens : Number.NaN,
    });
  }
}

function carriesToken(ev: Buffer, from: number): boolean {
  for (const needle of [CONTENT, REASONING_CONTENT, REASONING]) {
    const i = ev.indexOf(needle, from);
    if (i >= 0 && ev[i + needle.length] !== QUOTE) return true;
  }
  return ev.indexOf(TOOL_CALLS, from) >= 0;
}

function errorMessage(data: string): string {
  try {
    const o = JSON.parse(data) as { error?: { message?: unknown } | string };
    const m = typeof o.error === 'string' ? o.error : o.error?.message;
    if (typeof m === 'string') return m.slice(0, 200);
  } catch {
    // fall through to the raw text
  }
  return data.slice(0, 200);
}

/** Usage from a non-streamed chat completion body. */
export function usageFromBody(body: string): Usage | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(body);
  } catch {
    return undefined;
  }
  const u = (obj as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } | null } } | null)?.usage;
  if (u === undefined || u === null) return { prompt: Number.NaN, completion: Number.NaN, cached: Number.NaN };
  return {
    prompt: typeof u.prompt_tokens === 'number' ? u.prompt_tokens : Number.NaN,
    completion: typeof u.completion_tokens === 'number' ? u.completion_tokens : Number.NaN,
    cached: typeof u.prompt_tokens_details?.cached_tokens === 'number' ? u.prompt_tokens_details.cached_tokens : Number.NaN,
  };
}
