// An OpenAI stream read on the side of its relay: its events pass through (but the usage-only
// chunk the gateway asked for), while the backend's usage, the answering model and whether the
// stream completed are read, as cheaply as each stream allows (see SseTranslator).
import { CompletionText } from '../shared/completion-text.js';
import { scanModel, scanUsageEvent, type UsageEvent } from '../shared/event-scan.js';
import { hasUsageObject } from '../shared/json-walk.js';
import { EventTape } from '../shared/event-tape.js';
import type { Usage } from '../../core/usage.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import { UpstreamBodyError, type ResponseResult, type ResponseTranslator } from '../types.js';
import { collectText, usageFrom } from './fields.js';

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
export class SseTranslator implements ResponseTranslator {
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
  return tape.find((data) => {
    const scanned = scanModel(data);
    // Null: this event names no model; the next may.
    return (scanned === undefined ? parsedModel(data) : scanned) ?? undefined;
  });
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
