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
}

const LF = 0x0a;
const CR = 0x0d;

export class SseDecoder {
  private pending: Buffer | null = null;

  /** Feed bytes; returns the events completed by them (possibly none). */
  push(chunk: Buffer): SseEvent[] {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    const events: SseEvent[] = [];
    const hasCR = buf.indexOf(CR) !== -1;
    let eventStart = 0;
    let lineStart = 0;
    let i = 0;
    let fields: FieldAccumulator = newAccumulator();
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
        events.push(finish(fields, buf.subarray(eventStart, next)));
        fields = newAccumulator();
        eventStart = next;
      } else {
        processLine(fields, buf.toString('utf8', lineStart, lineEnd));
      }
      i = next;
      lineStart = next;
    }
    this.pending = eventStart < buf.length ? Buffer.from(buf.subarray(eventStart)) : null;
    return events;
  }

  /** Bytes received after the last complete event (an unterminated event at end of stream). */
  remainder(): Buffer | null {
    return this.pending;
  }
}

interface FieldAccumulator {
  event: string | undefined;
  data: string[];
  id: string | undefined;
  retry: number | undefined;
}

function newAccumulator(): FieldAccumulator {
  return { event: undefined, data: [], id: undefined, retry: undefined };
}

function processLine(acc: FieldAccumulator, line: string): void {
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
      acc.data.push(value);
      break;
    case 'event':
      acc.event = value;
      break;
    case 'id':
      if (!value.includes('\0')) acc.id = value;
      break;
    case 'retry':
      if (/^\d+$/.test(value)) acc.retry = Number(value);
      break;
    default:
      break;
  }
}

function finish(acc: FieldAccumulator, raw: Buffer): SseEvent {
  return {
    event: acc.event,
    data: acc.data.join('\n'),
    id: acc.id,
    retry: acc.retry,
    hasData: acc.data.length > 0,
    raw,
  };
}

/** Encode one event. Multi-line data becomes several `data:` lines, as the spec requires. */
export function encodeSse(data: string, event?: string): string {
  const head = event === undefined ? '' : `event: ${event}\n`;
  if (!data.includes('\n')) return `${head}data: ${data}\n\n`;
  return head + data.split('\n').map((l) => `data: ${l}`).join('\n') + '\n\n';
}
