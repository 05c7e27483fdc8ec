// OpenAI-schema responses: bytes pass through unchanged; usage and the answering model are read on
// the side. The only rewrite is dropping the usage-only stream chunk the gateway itself asked for.
import { CompletionText } from '../shared/completion-text.js';
import { EventTape } from '../shared/event-tape.js';
import type { ErrorCode } from '../../core/errors.js';
import { makeUsage, type Usage } from '../../core/usage.js';
import type { CompletionUsage } from '../../protocol/openai.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import { RerankObserver } from '../shared/rerank.js';
import { hasUsageObject, scanModel, scanUsageEvent, type UsageEvent } from '../shared/event-scan.js';
import { transcriptionTranslator } from '../shared/transcription.js';
import { UpstreamBodyError, type ClientRequest, type ErrorTranslation, type ResponseReading, type ResponseResult, type ResponseTranslator } from '../types.js';

/** Non-streamed bodies larger than this pass through without usage extraction (estimated instead). */
const MAX_OBSERVED_JSON_BYTES = 16 * 1024 * 1024;
/** Chat and completion answers are held whole (to be checked) up to this size. */
const MAX_HELD_JSON_BYTES = 64 * 1024 * 1024;

export function openAIResponseTranslator(
  req: ClientRequest,
  contentType: string | undefined,
  reading: ResponseReading,
): ResponseTranslator {
  if (req.operation === 'transcriptions' || req.operation === 'translations') return transcriptionTranslator(contentType);
  if (contentType !== undefined && contentType.startsWith('text/event-stream')) return new SseTranslator(reading.suppressUsageChunk, reading.keepText);
  if (req.operation === 'rerank') return new RerankObserver();
  // Audio and other binary answers stream through untouched: there is no usage in them to read.
  if (contentType !== undefined && !contentType.startsWith('application/json')) return PASS_THROUGH;
  // A chat or completion answer is small and must be well-formed to be billed: hold it and check it.
  // Embeddings can be tens of MB of floats: they stream through, observed on the side.
  if (req.operation === 'chat' || req.operation === 'completions') return new HeldJson();
  return new JsonObserver();
}

/** Non-streamed chat/completions: the body goes out whole once it parsed (a broken one is a 502). */
class HeldJson implements ResponseTranslator {
  readonly buffered = true;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parsed: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  push(chunk: Buffer): null {
    this.bytes += chunk.length;
    if (this.bytes > MAX_HELD_JSON_BYTES) throw new UpstreamBodyError(`the response is larger than ${MAX_HELD_JSON_BYTES >> 20} MiB`);
    this.chunks.push(chunk);
    return null;
  }

  end(): Buffer {
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new UpstreamBodyError(body.length === 0 ? 'the response body is empty' : 'the response body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UpstreamBodyError('the response body is not a JSON object');
    this.parsed = resultFromBody(parsed);
    return body;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

function resultFromBody(body: { model?: unknown; usage?: unknown; choices?: unknown }): ResponseResult {
  const pieces: string[] = [];
  if (Array.isArray(body.choices)) for (const c of body.choices as unknown[]) collectText(c, 'message', pieces);
  return {
    usage: usageFrom(body.usage),
    responseModel: typeof body.model === 'string' ? body.model : undefined,
    completionText: Array.isArray(body.choices) ? pieces.join('') : undefined,
  };
}

const NO_RESULT: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

const PASS_THROUGH: ResponseTranslator = {
  push: (chunk) => chunk,
  end: () => null,
  result: () => NO_RESULT,
};

/** Embeddings (and anything else non-streamed): bytes pass through, usage read on the side. */
class JsonObserver implements ResponseTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private parsed: ResponseResult = { usage: undefined, responseModel: undefined, completionText: undefined };

  push(chunk: Buffer): Buffer {
    if (this.bytes <= MAX_OBSERVED_JSON_BYTES) {
      this.bytes += chunk.length;
      if (this.bytes <= MAX_OBSERVED_JSON_BYTES) this.chunks.push(chunk);
      else this.chunks = [];
    }
    return chunk;
  }

  end(): null {
    if (this.chunks.length > 0) {
      try {
        const text = this.chunks.length === 1 ? (this.chunks[0] as Buffer).toString('utf8') : Buffer.concat(this.chunks).toString('utf8');
        this.parsed = resultFromBody(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // Not JSON: the client gets the bytes as they were; usage falls back to the gateway's count.
      }
      this.chunks = [];
    }
    return null;
  }

  result(): ResponseResult {
    return this.parsed;
  }
}

/**
 * Past this many bytes of tape a stream is read eagerly instead (its text collected as it goes): a
 * bound on what a long stream holds, about a thousand OpenAI chunks.
 */
const MAX_TAPE_BYTES = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const DONE = Buffer.from('[DONE]');
/**
 * Where each event's data line ends in the chunk `passWholeEvents` is reading: its first entries
 * are that chunk's. One array for every reader, reused: a chunk is read through without a pause.
 */
const LINE_ENDS: number[] = [];

/**
 * An OpenAI stream: its events pass through (but the usage chunk the gateway asked for), while the
 * backend's usage, the answering model and whether the stream completed are read on the side.
 *
 * The completion text is only needed for the gateway's own count: always when the stream ends
 * without the backend's usage, otherwise only for the drift audit's sample and traces that capture
 * content (`keepText`). Without `keepText`, an event is read as the stream passes only when it
 * can carry the backend's usage (it names a `"usage"` object: it may be the usage chunk to drop),
 * by a scan of its bytes when it came in a chunk of whole events, else by a parse.
 * Every event is kept on a compact tape, read at the end only as far as needed: the first event for
 * the model; all of them when the stream ended without usage (for the text) or without `[DONE]`
 * (for a `finish_reason`). Nothing is parsed on the way to the client's first chunk.
 */
class SseTranslator implements ResponseTranslator {
  private readonly decoder = new SseDecoder();
  private usage: Usage | undefined;
  private model: string | undefined;
  private readonly text = new CompletionText();
  /** `[DONE]` arrived, or a choice finished: the stream is complete. */
  private complete = false;
  /** The events not yet read for their text; undefined when every event is read as it comes. */
  private tape: EventTape | undefined;

  constructor(
    private readonly suppressUsageChunk: boolean,
    keepText: boolean,
  ) {
    if (!keepText) this.tape = new EventTape(MAX_TAPE_BYTES);
  }

  push(chunk: Buffer): Buffer | null {
    if (this.tape !== undefined && this.decoder.remainder() === null) {
      const out = this.passWholeEvents(chunk);
      if (out !== undefined) return out;
    }
    const carried = this.decoder.remainder() !== null;
    const events = this.decoder.push(chunk);
    if (!this.suppressUsageChunk) {
      for (const ev of events) this.read(ev);
      return chunk;
    }
    let dropped: SseEvent[] | undefined;
    for (const ev of events) if (this.read(ev)) (dropped ??= []).push(ev);
    // Nothing dropped and the chunk held whole events only: forward it as it came.
    if (dropped === undefined && !carried && this.decoder.remainder() === null) return chunk;
    const kept: Buffer[] = [];
    for (const ev of events) if (dropped?.includes(ev) !== true) kept.push(ev.raw);
    if (kept.length === 0) return null;
    return kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept);
  }

  end(): Buffer | null {
    // Without [DONE] the stream may still have finished (a finish_reason): the taped events tell.
    if (this.usage === undefined || !this.complete) this.replay();
    // Some servers omit [DONE]; a stream whose choices finished is complete all the same. One that
    // stops before either was cut: the client must not take it for a whole answer.
    if (!this.complete) throw new UpstreamBodyError('the stream ended before its last event ([DONE] or a finish_reason)');
    return this.decoder.remainder();
  }

  result(): ResponseResult {
    if (this.usage === undefined) this.replay();
    else if (this.tape !== undefined) this.model = modelOf(this.tape);
    return { usage: this.usage, responseModel: this.model, ...this.text.result() };
  }

  /**
   * The common case of an unsampled stream, read without the decoder: a chunk of whole events of
   * one `data:` line each (what a backend writes, nearly always one event a chunk). Such a chunk
   * needs no rewriting but for a usage-only event to hide, and its events need no parse, so its
   * bytes are read in place: each event's data goes on the tape from the chunk itself, an event
   * that names a `"usage"` object is read for its numbers by a scan of its bytes
   * (`scanUsageEvent`), and the chunk is forwarded as it came, or without the usage-only event.
   * The decoder would have made an event object, an array, a data string and slices per event,
   * and `JSON.parse` the usage event's every object, only for them to be dropped. Returns
   * undefined, having read nothing, for any other chunk (an event split across chunks, CR line
   * ends, comments, other fields, several data lines, a usage event the scan declines, a tape near
   * its limit): the decoder reads it as before.
   */
  private passWholeEvents(chunk: Buffer): Buffer | null | undefined {
    const tape = this.tape as EventTape;
    if (chunk.length === 0 || chunk.indexOf(CR) !== -1) return undefined;
    const ends = LINE_ENDS;
    let events = 0;
    for (let at = 0; at < chunk.length; ) {
      if (!isDataLine(chunk, at)) return undefined;
      const nl = chunk.indexOf(LF, at);
      if (nl === -1 || chunk[nl + 1] !== LF) return undefined;
      ends[events++] = nl;
      at = nl + 2;
    }
    if (!tape.makeRoom(chunk.length, events)) return undefined;
    const usages = hasUsageObject(chunk) ? usageEvents(chunk, ends, events) : NO_USAGE_EVENTS;
    if (usages === undefined) return undefined;
    // Checked whole above: the tape has room for every event, and every usage event was read.
    let hidden: number[] | undefined;
    let u = 0;
    for (let e = 0, at = 0; e < events; e++) {
      const start = dataStart(chunk, at);
      const end = ends[e] as number;
      if (isDone(chunk, start, end)) this.complete = true;
      else tape.append(chunk, start, end);
      const found = usages[u];
      if (found?.at === at) {
        u++;
        this.usage = found.scan.usage;
        if (this.suppressUsageChunk && found.scan.usageOnly) (hidden ??= []).push(at, end + 2);
      }
      at = end + 2;
    }
    return hidden === undefined ? chunk : without(chunk, hidden);
  }

  /** Reads an event; returns true when it is a usage-only chunk (empty choices, usage set). */
  private read(ev: SseEvent): boolean {
    if (!ev.hasData) return false;
    const data = ev.data;
    if (data === '[DONE]') {
      this.complete = true;
      return false;
    }
    const tape = this.tape;
    if (tape === undefined) return this.observe(data, this.text);
    const bytes = ev.dataBytes();
    if (!tape.append(bytes, 0, bytes.length)) {
      // A long stream: its text from here on is collected as it comes.
      this.replay();
      return this.observe(data, this.text);
    }
    return hasUsageObject(bytes) && this.observe(data, undefined);
  }

  /** Reads the taped events whole: their text, a finish, and anything the scan for usage missed. */
  private replay(): void {
    const tape = this.tape;
    if (tape === undefined) return;
    this.tape = undefined;
    tape.find((data) => {
      this.observe(data.toString('utf8'), this.text);
      return undefined;
    });
  }

  /**
   * Reads one event's JSON; returns true when it is a usage-only chunk (empty choices, usage set).
   * With `text` the event is read whole (model and text too); without, for usage and a finish only.
   */
  private observe(data: string, text: CompletionText | undefined): boolean {
    let obj: { model?: unknown; usage?: unknown; choices?: unknown };
    try {
      obj = JSON.parse(data) as typeof obj;
    } catch {
      return false;
    }
    if (text !== undefined && this.model === undefined && typeof obj.model === 'string') this.model = obj.model;
    if (Array.isArray(obj.choices)) {
      for (const c of obj.choices as unknown[]) {
        if (text !== undefined) collectText(c, 'delta', text);
        if (typeof c === 'object' && c !== null && typeof (c as { finish_reason?: unknown }).finish_reason === 'string') this.complete = true;
      }
    }
    const u = usageFrom(obj.usage);
    if (u === undefined) return false;
    this.usage = u;
    return Array.isArray(obj.choices) && obj.choices.length === 0;
  }
}

/** The line at `at` starts with "data:". */
function isDataLine(buf: Buffer, at: number): boolean {
  return buf[at] === 0x64 && buf[at + 1] === 0x61 && buf[at + 2] === 0x74 && buf[at + 3] === 0x61 && buf[at + 4] === 0x3a;
}

/** The data `buf[start, end)` is `[DONE]`; a loop, as `Buffer#compare`'s checks cost more than six bytes. */
function isDone(buf: Buffer, start: number, end: number): boolean {
  if (end - start !== DONE.length) return false;
  for (let k = 0; k < DONE.length; k++) if (buf[start + k] !== DONE[k]) return false;
  return true;
}

/** Where the value of the `data:` line at `at` starts (after the one optional space). */
function dataStart(buf: Buffer, at: number): number {
  return at + (buf[at + 5] === 0x20 ? 6 : 5);
}

/** An event of a chunk read by the usage scan: where the event starts in the chunk, and what it read. */
interface UsageEventAt {
  readonly at: number;
  readonly scan: UsageEvent;
}

const NO_USAGE_EVENTS: readonly UsageEventAt[] = Object.freeze([]);

/**
 * The events of a chunk of whole one-line events that name a `"usage"` object, each read by the
 * usage scan; undefined when the scan declines one (the decoder and `JSON.parse` read the chunk).
 */
function usageEvents(chunk: Buffer, lineEnds: readonly number[], events: number): UsageEventAt[] | undefined {
  const found: UsageEventAt[] = [];
  for (let e = 0, at = 0; e < events; e++) {
    const end = lineEnds[e] as number;
    const data = chunk.subarray(dataStart(chunk, at), end);
    if (hasUsageObject(data)) {
      const scan = scanUsageEvent(data);
      if (scan === undefined) return undefined;
      found.push({ at, scan });
    }
    at = end + 2;
  }
  return found;
}

/** The chunk without the spans `[from, to)` listed in order in `spans`; null when nothing is left. */
function without(chunk: Buffer, spans: readonly number[]): Buffer | null {
  // One event hidden (the usage chunk, alone or beside [DONE]): what lies before or after it.
  const [first, last] = spans as [number, number];
  if (spans.length === 2 && first === 0) return last === chunk.length ? null : chunk.subarray(last);
  if (spans.length === 2 && last === chunk.length) return chunk.subarray(0, first);
  const kept: Buffer[] = [];
  let from = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const to = spans[k] as number;
    if (to > from) kept.push(chunk.subarray(from, to));
    from = spans[k + 1] as number;
  }
  if (chunk.length > from) kept.push(chunk.subarray(from));
  if (kept.length === 0) return null;
  return kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept);
}

/** The model the first event that names one answered with. */
function modelOf(tape: EventTape): string | undefined {
  return tape.find((data) => scanModel(data) ?? parsedModel(data) ?? undefined);
}

/** The event's model as `JSON.parse` reads it, for an event the scan declined; null when it names none. */
function parsedModel(data: Buffer): string | null {
  try {
    const model = (JSON.parse(data.toString('utf8')) as { model?: unknown }).model;
    return typeof model === 'string' ? model : null;
  } catch {
    // not JSON: the next event may name it
    return null;
  }
}

const MESSAGE_TEXT_FIELDS = ['content', 'reasoning_content', 'reasoning'] as const;

/** Text a model generated in one choice: content, reasoning, legacy completions text, tool calls. */
function collectText(choice: unknown, field: 'delta' | 'message', out: { push(...t: string[]): unknown }): void {
  if (typeof choice !== 'object' || choice === null) return;
  const c = choice as Record<string, unknown>;
  if (typeof c['text'] === 'string') out.push(c['text']);
  const m = c[field];
  if (typeof m !== 'object' || m === null) return;
  const msg = m as Record<string, unknown>;
  for (const k of MESSAGE_TEXT_FIELDS) if (typeof msg[k] === 'string') out.push(msg[k]);
  if (Array.isArray(msg['tool_calls'])) {
    for (const tc of msg['tool_calls'] as unknown[]) {
      const fn = typeof tc === 'object' && tc !== null ? (tc as { function?: { name?: unknown; arguments?: unknown } }).function : undefined;
      if (typeof fn?.name === 'string') out.push(fn.name);
      if (typeof fn?.arguments === 'string') out.push(fn.arguments);
    }
  }
}

export function usageFrom(u: unknown): Usage | undefined {
  if (typeof u !== 'object' || u === null) return undefined;
  // Chat-style names, or the input/output names of the image (and Responses) APIs.
  const x = u as Partial<CompletionUsage> & { input_tokens?: number; output_tokens?: number };
  const input = num(x.prompt_tokens ?? x.input_tokens);
  const output = num(x.completion_tokens ?? x.output_tokens);
  return makeUsage({
    input,
    output,
    cachedInput: num(x.prompt_tokens_details?.cached_tokens),
    reasoning: num(x.completion_tokens_details?.reasoning_tokens),
    total: typeof x.total_tokens === 'number' ? num(x.total_tokens) : input + output,
  });
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

const MAX_MESSAGE = 1_000;

/** Upstream errors in OpenAI shape, sanitized: our message for auth and server failures. */
export function translateOpenAIError(status: number, contentType: string | undefined, body: Buffer, backendName: string): ErrorTranslation {
  if (status === 401 || status === 403) {
    return err(502, 'upstream_auth_failed', `The backend "${backendName}" rejected the gateway's credential (HTTP ${status}); an operator must fix its BackendSecurityPolicy or secret.`);
  }
  if (status >= 500) {
    return err(status === 503 || status === 504 ? status : 502, 'upstream_status', `The backend "${backendName}" failed with HTTP ${status}.`);
  }
  let message: string | undefined;
  let param: string | null = null;
  if (contentType?.includes('json') === true) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { error?: unknown; message?: unknown; param?: unknown };
      const e = typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as Record<string, unknown>) : (parsed as Record<string, unknown>);
      if (typeof e['message'] === 'string') message = e['message'].slice(0, MAX_MESSAGE);
      if (typeof e['param'] === 'string') param = e['param'].slice(0, 200);
    } catch {
      // not JSON after all; fall through to a generic message
    }
  }
  if (status === 429) {
    return err(429, 'upstream_rate_limited', message ?? `The backend "${backendName}" is rate limiting requests.`, param);
  }
  return err(
    status,
    'upstream_rejected',
    message ?? `The backend "${backendName}" rejected the request with HTTP ${status}.`,
    param,
  );
}

function err(status: number, code: ErrorCode, message: string, param: string | null = null): ErrorTranslation {
  return { status, code, message, param };
}
