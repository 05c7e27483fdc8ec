// One JSON object written straight into a byte buffer that is reused for every line: the ledger
// writes one line per request, and building it as an object for JSON.stringify (or as a string
// from pieces), then copying that into a Buffer, allocated several times the line's own size.
//
// Strings that are plain printable ASCII (every field of a usual line) are copied byte by byte;
// anything else goes through JSON.stringify for its escaping, so the output is always what
// JSON.stringify would write for the same values.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const INITIAL_BYTES = 4 * 1024;

export class JsonLine {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  private len = 0;
  /** Whether the next field is the object's first (no comma before it). */
  private first = true;

  /** Starts a new line, dropping the previous one. */
  begin(): this {
    this.len = 0;
    this.first = true;
    this.byte(0x7b); // {
    return this;
  }

  /** Closes the object and adds the newline; returns the line's length in bytes. */
  end(): number {
    this.byte(0x7d); // }
    this.byte(0x0a);
    return this.len;
  }

  /** The buffer holding the line in its first `length` bytes (overwritten by the next begin()). */
  get bytes(): Buffer {
    return this.buf;
  }

  get length(): number {
    return this.len;
  }

  /** The line as text, without its newline (tests, tools). */
  toString(): string {
    return this.buf.toString('utf8', 0, this.len - 1);
  }

  str(name: string, value: string): this {
    this.name(name);
    this.string(value);
    return this;
  }

  /** A number; a missing or non-finite one is null, as JSON.stringify writes it. */
  num(name: string, value: number | undefined): this {
    this.name(name);
    this.ascii(value !== undefined && Number.isFinite(value) ? String(value) : 'null');
    return this;
  }

  bool(name: string, value: boolean): this {
    this.name(name);
    this.ascii(value ? 'true' : 'false');
    return this;
  }

  null(name: string): this {
    this.name(name);
    this.ascii('null');
    return this;
  }

  /** Opens a nested object as the value of `name`; its fields follow, then close(). */
  open(name: string): this {
    this.name(name);
    this.byte(0x7b);
    this.first = true;
    return this;
  }

  close(): this {
    this.byte(0x7d);
    this.first = false;
    return this;
  }

  private name(name: string): void {
    if (!this.first) this.byte(COMMA);
    this.first = false;
    // Field names are the caller's literals: plain ASCII, nothing to escape.
    this.room(name.length + 3);
    const b = this.buf;
    let at = this.len;
    b[at++] = QUOTE;
    for (let i = 0; i < name.length; i++) b[at++] = name.charCodeAt(i);
    b[at++] = QUOTE;
    b[at++] = 0x3a; // :
    this.len = at;
  }

  private string(s: string): void {
    this.room(s.length + 2);
    const b = this.buf;
    const start = this.len;
    let at = start;
    b[at++] = QUOTE;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) {
        // Not plain printable ASCII: JSON.stringify escapes it (and encodes the rest as UTF-8).
        this.len = start;
        this.utf8(JSON.stringify(s));
        return;
      }
      b[at++] = c;
    }
    b[at++] = QUOTE;
    this.len = at;
  }

  /** Text known to be ASCII (numbers, literals). */
  private ascii(s: string): void {
    this.room(s.length);
    const b = this.buf;
    let at = this.len;
    for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i);
    this.len = at;
  }

  private utf8(s: string): void {
    this.room(Buffer.byteLength(s));
    this.len += this.buf.write(s, this.len);
  }

  private byte(c: number): void {
    this.room(1);
    this.buf[this.len++] = c;
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}
