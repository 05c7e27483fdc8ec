// multipart/form-data (RFC 7578), read as it arrives: the scanner is fed a growing buffer and reports
// each part once its closing delimiter is in view, with the byte range of its value. Nothing is
// copied, so a caller can stop after the part it wants and send the bytes on unchanged, and the
// simulator can read a whole form with the same code.

export interface FormPart {
  /** The part's `name` from Content-Disposition. */
  readonly name: string;
  /** Present on file parts. */
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  /** Byte range of the part's value within the buffer the scanner was fed. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** Part headers longer than this are refused: real ones are a few hundred bytes. */
const MAX_PART_HEADERS = 16 * 1024;

export class MultipartError extends Error {}

/** The boundary of a `multipart/form-data` content type, or undefined when it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [base, ...params] = contentType.split(';');
  if (base?.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    // RFC 2046 §5.1.1: 1 to 70 characters.
    return v.length > 0 && v.length <= 70 ? v : undefined;
  }
  return undefined;
}

type Phase = 'preamble' | 'headers' | 'value' | 'done';

export class MultipartScanner {
  private readonly first: Buffer;
  private readonly delimiter: Buffer;
  private phase: Phase = 'preamble';
  private pos = 0;
  private searchFrom = 0;
  private current: { name: string; filename: string | undefined; contentType: string | undefined; valueStart: number } | undefined;

  constructor(boundary: string) {
    this.first = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  /** The closing delimiter was seen: the form is complete. */
  get done(): boolean {
    return this.phase === 'done';
  }

  /**
   * The parts completed by the bytes fed so far. `buf` is everything received, from the first byte
   * (callers append to it between calls). Throws MultipartError on a malformed form.
   */
  scan(buf: Buffer): FormPart[] {
    const out: FormPart[] = [];
    for (;;) {
      switch (this.phase) {
        case 'preamble': {
          const i = buf.indexOf(this.first, this.pos);
          if (i === -1) return out;
          const after = i + this.first.length;
          if (buf.length < after + 2) return out;
          if (buf[after] === 0x2d && buf[after + 1] === 0x2d) {
            this.phase = 'done';
            return out;
          }
          this.pos = skipLineEnd(buf, after);
          this.phase = 'headers';
          continue;
        }
        case 'headers': {
          const end = buf.indexOf('\r\n\r\n', this.pos, 'latin1');
          if (end === -1) {
            if (buf.length - this.pos > MAX_PART_HEADERS) throw new MultipartError(`a part's headers are longer than ${MAX_PART_HEADERS} bytes`);
            return out;
          }
          this.current = { ...partHeaders(buf.toString('utf8', this.pos, end)), valueStart: end + 4 };
          this.phase = 'value';
          this.searchFrom = end + 4;
          continue;
        }
        case 'value': {
          const d = buf.indexOf(this.delimiter, this.searchFrom);
          if (d === -1) {
            // The delimiter may be split across what came so far and what comes next.
            this.searchFrom = Math.max(this.searchFrom, buf.length - this.delimiter.length + 1);
            return out;
          }
          const after = d + this.delimiter.length;
          if (buf.length < after + 2) return out;
          const part = this.current as NonNullable<typeof this.current>;
          out.push({ name: part.name, filename: part.filename, contentType: part.contentType, valueStart: part.valueStart, valueEnd: d });
          if (buf[after] === 0x2d && buf[after + 1] === 0x2d) {
            this.phase = 'done';
            return out;
          }
          this.pos = skipLineEnd(buf, after);
          this.phase = 'headers';
          continue;
        }
        case 'done':
          return out;
      }
    }
  }
}

function skipLineEnd(buf: Buffer, at: number): number {
  // Transport padding (spaces) may precede the line end.
  let i = at;
  while (buf[i] === 0x20 || buf[i] === 0x09) i++;
  if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) throw new MultipartError('a boundary line does not end with CRLF');
  return i + 2;
}

function partHeaders(text: string): { name: string; filename: string | undefined; contentType: string | undefined } {
  let name: string | undefined;
  let filename: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-type') contentType = value;
    else if (key === 'content-disposition') {
      name = param(value, 'name');
      filename = param(value, 'filename');
    }
  }
  if (name === undefined) throw new MultipartError('a part has no Content-Disposition name');
  return { name, filename, contentType };
}

function param(disposition: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${key}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]+))`, 'i').exec(disposition);
  if (m === null) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}

/** A whole form at once (the simulator's use): each part's value as bytes, in order. */
export function parseMultipart(body: Buffer, boundary: string): Array<FormPart & { readonly value: Buffer }> {
  const s = new MultipartScanner(boundary);
  const parts = s.scan(body);
  if (!s.done) throw new MultipartError('the form ends before its closing boundary');
  return parts.map((p) => ({ ...p, value: body.subarray(p.valueStart, p.valueEnd) }));
}
