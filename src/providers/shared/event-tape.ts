// The data of a stream's events, kept for a reading that usually never comes. When the backend
// reports usage (nearly always), the tape is dropped unread; when the stream ends without it (a
// client that left mid-answer, a backend that ignores include_usage), the gateway must count the
// answer itself, and the tape gives back every event's data to collect the text from.
//
// Consecutive events of a stream repeat most of their bytes (id, model, the JSON around a one-token
// delta), so each is stored as what differs from the one before: the length of the head they share,
// the length of the tail they share, and the bytes in between. A 140-byte OpenAI chunk takes 3–10.
//
// Finding what differs costs a loop over the event's bytes, for a tape that is nearly always
// dropped unread. So the first events (up to 32 or 4 KiB of them) are only held where they lie, as
// spans of the caller's bytes, and encoded together once a stream passes that: an answer of a few
// dozen chunks is never encoded. The caller's bytes are not copied, so it must not change them
// (a relay writes the same buffers to its client, so it does not).
export class EventTape {
  private tape: Buffer = EMPTY;
  private size = 0;
  /** The last event encoded, copied: the next one is stored as its difference from it. */
  private prev: Buffer = EMPTY;
  private prevLen = 0;
  /**
   * Events held, not yet encoded: the buffer each lies in, and its span there (two numbers each).
   * Made at their full size with the first event: growing them step by step allocates more.
   */
  private heldIn: Array<Buffer | undefined> = NONE_HELD;
  private heldSpans: number[] = NO_SPANS;
  private held = 0;
  private heldBytes = 0;

  /** @param limit bytes the tape may hold; past it `append` refuses and the caller reads eagerly. */
  constructor(private readonly limit: number) {}

  /**
   * Whether `bytes` of data in `events` events fit for certain: a caller that must not be refused
   * halfway through a chunk asks first. Encodes the held events when that makes the room.
   */
  makeRoom(bytes: number, events: number): boolean {
    const need = bytes + events * 3 * MAX_VARINT;
    if (this.size + this.heldCost() + need <= this.limit) return true;
    this.encodeHeld();
    return this.size + need <= this.limit;
  }

  /**
   * Adds one event's data, `src[start, end)` (a span, so a caller holding the whole chunk makes no
   * slice); false (and nothing added) when the tape would pass its limit.
   */
  append(src: Buffer, start: number, end: number): boolean {
    const n = end - start;
    // Held, its room on the tape counted as if it were stored whole, so encoding it later never fails.
    if (this.held < HOLD_EVENTS && this.heldBytes + n <= HOLD_BYTES && this.size + this.heldCost() + n + 3 * MAX_VARINT <= this.limit) {
      if (this.heldIn === NONE_HELD) {
        this.heldIn = new Array<Buffer | undefined>(HOLD_EVENTS);
        this.heldSpans = new Array<number>(2 * HOLD_EVENTS);
      }
      this.heldIn[this.held] = src;
      this.heldSpans[2 * this.held] = start;
      this.heldSpans[2 * this.held + 1] = end;
      this.held++;
      this.heldBytes += n;
      return true;
    }
    this.encodeHeld();
    return this.encode(src, start, end);
  }

  /** What the held events could take on the tape at most. */
  private heldCost(): number {
    return this.heldBytes + this.held * 3 * MAX_VARINT;
  }

  private encodeHeld(): void {
    const spans = this.heldSpans;
    for (let k = 0; k < this.held; k++) this.encode(this.heldIn[k] as Buffer, spans[2 * k] as number, spans[2 * k + 1] as number);
    // The encoded chunks are let go; the arrays stay for the next events.
    this.heldIn.fill(undefined, 0, this.held);
    this.held = 0;
    this.heldBytes = 0;
  }

  /** Stores one event as its difference from the one before; false when it would pass the limit. */
  private encode(src: Buffer, start: number, end: number): boolean {
    const n = end - start;
    const prev = this.prev;
    const prevLen = this.prevLen;
    const shared = Math.min(n, prevLen);
    let head = 0;
    while (head < shared && src[start + head] === prev[head]) head++;
    let tail = 0;
    while (tail < shared - head && src[end - 1 - tail] === prev[prevLen - 1 - tail]) tail++;
    const mid = n - head - tail;
    const need = this.size + mid + 3 * MAX_VARINT;
    if (need > this.limit) return false;
    if (need > this.tape.length) this.tape = grown(this.tape, this.size, need);
    let at = writeVarint(this.tape, this.size, head);
    at = writeVarint(this.tape, at, tail);
    at = writeVarint(this.tape, at, mid);
    // Byte by byte: the difference is a few bytes, and a partial Buffer#copy allocates a view first.
    const tape = this.tape;
    for (let k = 0; k < mid; k++) tape[at + k] = src[start + head + k] as number;
    this.size = at + mid;
    this.remember(src, start, head, mid, tail);
    return true;
  }

  /**
   * Makes the event just appended the one the next is compared with. Its head and tail are already
   * in `prev`: the tail moves to its new place and the few bytes between are written.
   */
  private remember(src: Buffer, start: number, head: number, mid: number, tail: number): void {
    const n = head + mid + tail;
    if (n > this.prev.length) {
      const next = Buffer.allocUnsafe(Math.max(n, 2 * this.prev.length));
      this.prev.copy(next, 0, 0, head);
      this.prev.copy(next, head + mid, this.prevLen - tail, this.prevLen);
      this.prev = next;
    } else if (tail > 0 && n !== this.prevLen) {
      this.prev.copyWithin(head + mid, this.prevLen - tail, this.prevLen);
    }
    const prev = this.prev;
    for (let k = 0; k < mid; k++) prev[head + k] = src[start + head + k] as number;
    this.prevLen = n;
  }

  /**
   * Hands each event's data to `read`, in order, until it returns a value, and returns that value
   * (undefined when it never does): a new buffer for an encoded event, the caller's bytes for a
   * held one. A callback, not a generator: the reader that looks at the first event only makes no
   * generator for it.
   */
  find<T>(read: (data: Buffer) => T | undefined): T | undefined {
    let prev = EMPTY;
    let at = 0;
    const varint = { value: 0, next: 0 };
    while (at < this.size) {
      readVarint(this.tape, at, varint);
      const head = varint.value;
      readVarint(this.tape, varint.next, varint);
      const tail = varint.value;
      readVarint(this.tape, varint.next, varint);
      const mid = varint.value;
      at = varint.next;
      const cur = Buffer.allocUnsafe(head + mid + tail);
      prev.copy(cur, 0, 0, head);
      this.tape.copy(cur, head, at, at + mid);
      prev.copy(cur, head + mid, prev.length - tail);
      at += mid;
      prev = cur;
      const found = read(cur);
      if (found !== undefined) return found;
    }
    const spans = this.heldSpans;
    for (let k = 0; k < this.held; k++) {
      const found = read((this.heldIn[k] as Buffer).subarray(spans[2 * k], spans[2 * k + 1]));
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

const EMPTY = Buffer.alloc(0);
/** Events and data bytes held unencoded: an answer of a few dozen OpenAI chunks. */
const HOLD_EVENTS = 32;
const HOLD_BYTES = 4 * 1024;
const NONE_HELD: Array<Buffer | undefined> = [];
const NO_SPANS: number[] = [];
/** Bytes of the longest varint (lengths stay far below 2^35). */
const MAX_VARINT = 5;

function grown(buf: Buffer, used: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(need, 2 * buf.length, 256));
  buf.copy(next, 0, 0, used);
  return next;
}

/** Unsigned LEB128: 7 bits a byte, the high bit set on every byte but the last. */
function writeVarint(buf: Buffer, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[at++] = v;
  return at;
}

function readVarint(buf: Buffer, at: number, out: { value: number; next: number }): void {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const b = buf[i++] ?? 0;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  out.value = value;
  out.next = i;
}
