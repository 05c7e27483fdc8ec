// Server-Sent Events framing (WHATWG HTML §9.2 "Parsing an event stream"), parsed once into typed
// events that keep their exact bytes, so a proxy can forward, drop or rewrite whole events without
// re-encoding the ones it leaves alone.

export interface SseEvent {
  /** The `event:` field, or undefined for the default "message" type. */
  readonly event: string | undefined;
  /** The `data:` lines joined with "\n"; "" when the event had no data lines. */
  readonly data: string;
  readonly id: string | undefined;
  readonly retry: number | undefined;
  /** Whether any `data:` field was present (an event with only comments has none). */
  readonly hasData: boolean;
  /** The event's exact bytes, from its first line through the blank line that ends it. */
  readonly raw: Buffer;
  /** The data as UTF-8 bytes: a view of the stream's bytes when it is one line, so keeping a copy makes no string. */
  dataBytes(): Buffer;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * An event as the decoder found it. Streams are mostly events of one `data:` line (every
 * OpenAI-compatible server writes them so): such an event keeps only where its data sits in the
 * bytes, and the string and the `raw` slice are made when first read. A proxy that looks at a few
 * events in a long stream then pays for those few.
 */
class DecodedEvent implements SseEvent {
  private dataText: string | undefined;
  private rawSlice: Buffer | undefined;

  constructor(
    readonly event: string | undefined,
    readonly id: string | undefined,
    readonly retry: number | undefined,
    readonly hasData: boolean,
    /** The bytes the event lies in, and its span there. */
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
    /** The span of its one data line's value; -1 when the data was joined from several lines (`dataText`). */
    private readonly dataStart: number,
    private readonly dataEnd: number,
    joined: string | undefined,
  ) {
    this.dataText = joined;
  }

  get data(): string {
    this.dataText ??= this.dataStart === -1 ? '' : this.buf.toString('utf8', this.dataStart, this.dataEnd);
    return this.dataText;
  }

  get raw(): Buffer {
    this.rawSlice ??= this.buf.subarray(this.start, this.end);
    return this.rawSlice;
  }

  dataBytes(): Buffer {
    if (this.dataStart !== -1) return this.buf.subarray(this.dataStart, this.dataEnd);
    return Buffer.from(this.data, 'utf8');
  }
}

const NO_EVENTS: readonly SseEvent[] = Object.freeze([]);

export class SseDecoder {
  private pending: Buffer | null = null;
  // The event being read: its fields, and its data as a span of the bytes while it has one line.
  private event: string | undefined;
  private id: string | undefined;
  private retry: number | undefined;
  private dataStart = -1;
  private dataEnd = -1;
  /** Data lines as strings, once an event has more than one (or one read outside the fast path). */
  private dataLines: string[] | null = null;

  /** Feed bytes; returns the events completed by them (possibly none). */
  push(chunk: Buffer): readonly SseEvent[] {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    // Most chunks complete one event: an array made for it holds just that one.
    let events: SseEvent[] | undefined;
    const hasCR = buf.indexOf(CR) !== -1;
    let eventStart = 0;
    let lineStart = 0;
    let i = 0;
    this.reset();
    while (i < buf.length) {
      let lineEnd: number;
      let next: number;
      if (!hasCR) {
        const nl = buf.indexOf(LF, i);
        if (nl === -1) break;
        lineEnd = nl;
        next = nl + 1;
      } else {
        let j = i;
        while (j < buf.length && buf[j] !== LF && buf[j] !== CR) j++;
        if (j >= buf.length) break;
        if (buf[j] === CR) {
          if (j + 1 >= buf.length) break; // a lone CR at the end: wait to see whether LF follows
          next = buf[j + 1] === LF ? j + 2 : j + 1;
        } else {
          next = j + 1;
        }
        lineEnd = j;
      }
      if (lineEnd === lineStart) {
        const ev = this.finish(buf, eventStart, next);
        if (events === undefined) events = [ev];
        else events.push(ev);
        eventStart = next;
      } else if (isDataLine(buf, lineStart, lineEnd)) {
        const valueStart = lineStart + 5 + (buf[lineStart + 5] === 0x20 ? 1 : 0);
        this.addData(buf, valueStart, lineEnd);
      } else {
        this.processLine(buf.toString('utf8', lineStart, lineEnd), buf);
      }
      i = next;
      lineStart = next;
    }
    // An event cut by the chunk's end is read again, whole, with the next chunk.
    this.pending = eventStart < buf.length ? Buffer.from(buf.subarray(eventStart)) : null;
    return events ?? NO_EVENTS;
  }

  /** Bytes received after the last complete event (an unterminated event at end of stream). */
  remainder(): Buffer | null {
    return this.pending;
  }

  private reset(): void {
    this.event = undefined;
    this.id = undefined;
    this.retry = undefined;
    this.dataStart = -1;
    this.dataEnd = -1;
    this.dataLines = null;
  }

  private addData(buf: Buffer, start: number, end: number): void {
    if (this.dataStart === -1 && this.dataLines === null) {
      this.dataStart = start;
      this.dataEnd = end;
      return;
    }
    this.dataLine(buf.toString('utf8', start, end), buf);
  }

  /** A data line kept as a string: the event's earlier one-line span becomes a string first. */
  private dataLine(value: string, buf: Buffer): void {
    if (this.dataLines === null) {
      this.dataLines = this.dataStart === -1 ? [] : [buf.toString('utf8', this.dataStart, this.dataEnd)];
      this.dataStart = -1;
    }
    this.dataLines.push(value);
  }

  private processLine(line: string, buf: Buffer): void {
    if (line.charCodeAt(0) === 0x3a) return; // ":" comment
    const colon = line.indexOf(':');
    let name: string;
    let value: string;
    if (colon === -1) {
      name = line;
      value = '';
    } else {
      name = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (name) {
      case 'data':
        // Only a bare "data" line (no colon) gets here: "data:" lines take the span path.
        this.dataLine(value, buf);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  private finish(buf: Buffer, start: number, end: number): SseEvent {
    const lines = this.dataLines;
    const ev = new DecodedEvent(
      this.event,
      this.id,
      this.retry,
      this.dataStart !== -1 || lines !== null,
      buf,
      start,
      end,
      this.dataStart,
      this.dataEnd,
      lines === null ? undefined : lines.join('\n'),
    );
    this.reset();
    return ev;
  }
}

/** The line starts with "data:". */
function isDataLine(buf: Buffer, start: number, end: number): boolean {
  return end - start >= 5 && buf[start] === 0x64 && buf[start + 1] === 0x61 && buf[start + 2] === 0x74 && buf[start + 3] === 0x61 && buf[start + 4] === 0x3a;
}

/** Encode one event. Multi-line data becomes several `data:` lines, as the spec requires. */
export function encodeSse(data: string, event?: string): string {
  const head = event === undefined ? '' : `event: ${event}\n`;
  if (!data.includes('\n')) return `${head}data: ${data}\n\n`;
  return head + data.split('\n').map((l) => `data: ${l}`).join('\n') + '\n\n';
}
