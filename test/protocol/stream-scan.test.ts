// The pieces an unsampled stream is read with: the scan for a JSON member, and the tape that
// keeps events compactly until they are read (or dropped).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesHaveMemberStarting } from '../../src/protocol/json-bytes.js';
import { EventTape } from '../../src/providers/shared/event-tape.js';

const has = (json: string, first = '{'): boolean => bytesHaveMemberStarting(Buffer.from(json), Buffer.from('"usage"'), first.charCodeAt(0));

describe('bytesHaveMemberStarting', () => {
  it('finds a member whose value starts with the byte asked for, with any whitespace around the colon', () => {
    expect(has('{"usage":{"prompt_tokens":1}}')).toBe(true);
    expect(has('{"a":1, "usage" :\n\t {"prompt_tokens":1}}')).toBe(true);
    expect(has('{"usage":null}')).toBe(false);
    expect(has('{"usage":null,"x":{"usage":{}}}')).toBe(true);
    expect(has('{"finish_reason":"stop"}', '"')).toBe(false);
  });

  it('does not take a name inside a string for a member', () => {
    expect(has(JSON.stringify({ content: '"usage":{"prompt_tokens":1}' }))).toBe(false);
    expect(has(JSON.stringify({ content: 'say \\"usage":{' }))).toBe(false);
    expect(has(JSON.stringify({ usage: 'usage' }), '"')).toBe(true);
    expect(has('{"content":"usage","x":{}}')).toBe(false);
  });
});

/** Every event the tape gives back. */
function all(tape: EventTape): Buffer[] {
  const out: Buffer[] = [];
  tape.find((data) => void out.push(Buffer.from(data)));
  return out;
}

describe('EventTape', () => {
  it('gives back every event as it was appended', () => {
    const tape = new EventTape(1 << 20);
    const events = [
      '{"id":"a","choices":[{"delta":{"content":"one"}}]}',
      '{"id":"a","choices":[{"delta":{"content":"two"}}]}',
      '{"id":"a","choices":[{"delta":{"content":"two"}}]}',
      '',
      '{"id":"a"}',
      'x'.repeat(300),
      'x'.repeat(299) + 'y',
      'é and 数字 ' + 'z'.repeat(200),
      '{"id":"a","choices":[{"delta":{"content":"one"}}]}',
    ].map((s) => Buffer.from(s));
    for (const e of events) expect(tape.append(e, 0, e.length)).toBe(true);
    expect(all(tape).map((b) => b.toString())).toEqual(events.map((b) => b.toString()));
  });

  it('stores an event mostly like the one before in a few bytes, and refuses past its limit', () => {
    const tape = new EventTape(200);
    const chunk = (i: number): Buffer => Buffer.from(`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"tok${i}"},"finish_reason":null}]}`);
    expect(tape.append(chunk(0), 0, chunk(0).length)).toBe(true);
    let n = 1;
    while (tape.append(chunk(n), 0, chunk(n).length)) n++;
    // The first event takes ~140 bytes; each next one a few.
    expect(n).toBeGreaterThan(5);
    expect(all(tape).map((b) => b.toString())).toEqual(Array.from({ length: n }, (_, i) => chunk(i).toString()));
  });

  it('gives back what it took, held or encoded, and makes the room it promised', () => {
    // Events alike at both ends, as a stream's are, some long enough to pass what the tape holds
    // unencoded (4 KiB), under limits from tight to roomy; spans of larger buffers, as a chunk's are.
    const event = fc.tuple(fc.string({ maxLength: 6 }), fc.nat({ max: 3000 })).map(([s, pad]) => `{"id":"c","delta":"${s}${'x'.repeat(pad % 7 === 0 ? pad : 0)}"}`);
    fc.assert(
      fc.property(fc.array(fc.array(event, { minLength: 1, maxLength: 4 }), { maxLength: 40 }), fc.integer({ min: 100, max: 40_000 }), (chunks, limit) => {
        const tape = new EventTape(limit);
        const kept: string[] = [];
        let refused = false;
        for (const evs of chunks) {
          if (refused) break;
          const chunk = Buffer.from(`>${evs.join('|')}<`);
          const byteCount = evs.reduce((n, e) => n + Buffer.byteLength(e), 0);
          const room = tape.makeRoom(byteCount, evs.length);
          let at = 1;
          for (const e of evs) {
            const end = at + Buffer.byteLength(e);
            const took = tape.append(chunk, at, end);
            if (room) expect(took).toBe(true);
            // The reader stops at a refusal and reads what the tape has.
            if (!took) {
              refused = true;
              break;
            }
            kept.push(e);
            at = end + 1;
          }
        }
        expect(all(tape).map((b) => b.toString())).toEqual(kept);
      }),
      { numRuns: 500 },
    );
  });
});
