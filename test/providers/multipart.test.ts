// The multipart/form-data scanner the gateway reads uploads with: parts found whatever way the bytes
// are split into chunks (a delimiter cut in two included), boundaries read from the content type,
// malformed forms refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MultipartError, MultipartScanner, multipartBoundary, parseMultipart, type FormPart } from '../../src/protocol/multipart.js';

const B = 'xYz-boundary';

function form(parts: Array<{ name: string; filename?: string; value: Buffer }>): Buffer {
  const pieces: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    pieces.push(Buffer.from(`--${B}\r\nContent-Disposition: ${disp}\r\n${p.filename === undefined ? '' : 'Content-Type: audio/wav\r\n'}\r\n`), p.value, Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${B}--\r\n`));
  return Buffer.concat(pieces);
}

/** Feeds `body` in pieces cut at `cuts`, as a growing buffer, like the gateway's read-ahead. */
function scanInPieces(body: Buffer, cuts: number[]): FormPart[] {
  const s = new MultipartScanner(B);
  const out: FormPart[] = [];
  for (const end of [...cuts.filter((c) => c > 0 && c < body.length).sort((a, b) => a - b), body.length]) out.push(...s.scan(body.subarray(0, end)));
  expect(s.done).toBe(true);
  return out;
}

describe('multipart scanner', () => {
  it('reads the boundary from the content type, quoted or not', () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${B}`)).toBe(B);
    expect(multipartBoundary(`Multipart/Form-Data; charset=utf-8; boundary="${B}"`)).toBe(B);
    expect(multipartBoundary('application/json')).toBeUndefined();
    expect(multipartBoundary('multipart/form-data')).toBeUndefined();
  });

  it('finds the same parts however the bytes are split', () => {
    const file = Buffer.from(`binary\r\n--${B.slice(0, 5)} not a delimiter \r\n-- and more`);
    const body = form([
      { name: 'file', filename: 'a.wav', value: file },
      { name: 'model', value: Buffer.from('whisper-1') },
      { name: 'timestamp_granularities[]', value: Buffer.from('word') },
    ]);
    const whole = parseMultipart(body, B);
    expect(whole.map((p) => [p.name, p.filename, p.value.toString()])).toEqual([
      ['file', 'a.wav', file.toString()],
      ['model', undefined, 'whisper-1'],
      ['timestamp_granularities[]', undefined, 'word'],
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: body.length }), { maxLength: 12 }), (cuts) => {
        expect(scanInPieces(body, cuts)).toEqual(whole.map(({ value: _v, ...p }) => p));
      }),
    );
  });

  it('refuses a part without a name and a form without its closing boundary', () => {
    expect(() => parseMultipart(Buffer.from(`--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${B}--\r\n`), B)).toThrow(MultipartError);
    expect(() => parseMultipart(form([{ name: 'a', value: Buffer.from('1') }]).subarray(0, 40), B)).toThrow(/closing boundary/);
  });
});
