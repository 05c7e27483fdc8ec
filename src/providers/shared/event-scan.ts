// A few members of a stream event, read from its bytes. An unsampled stream needs only the usage
// numbers of its usage chunk and the model its first event names, and `JSON.parse` would build a
// string and every object of the event only for the reader to look at a few of them.
//
// A scan is exact or it declines: it walks the whole event as JSON, checking what it skips as
// strictly as `JSON.parse` would, and it returns undefined (the caller parses the event) on anything
// it does not read for certain: a member name with an escape, the same wanted member twice, a
// value it reads that is not written plainly (a token count that is not a non-negative integer of
// at most 15 digits, a model with an escape), a non-empty `choices` beside usage (a choice may
// carry a `finish_reason`), deep nesting, a text that is not a JSON object.

import { makeUsage, type Usage } from '../../core/usage.js';
import { bytesAt, skipSpace } from './json-walk.js';

export interface UsageEvent {
  /** What `usageFrom` gives for the event's top-level `usage` object. */
  readonly usage: Usage;
  /** The event has `"choices": []`: the usage-only chunk a gateway that asked for it hides. */
  readonly usageOnly: boolean;
}

/**
 * Reads the JSON text `buf`, an object with a top-level `usage` object, for its usage; undefined
 * when the text is anything else or the scan cannot be certain (see above).
 */
export function scanUsageEvent(buf: Buffer): UsageEvent | undefined {
  const s = new Scan(buf);
  // Set in the walk's callback, where the compiler does not follow them: hence the casts.
  let counts = undefined as Counts | undefined;
  let choices = 'absent' as 'absent' | 'other' | 'empty';
  const ok = s.topLevel((name, at) => {
    if (name === USAGE) {
      if (counts !== undefined || buf[at] !== LBRACE) return FAIL;
      counts = new Counts();
      return s.usageObject(at, counts);
    }
    if (name !== CHOICES) return s.value(at, 1);
    if (choices !== 'absent') return FAIL;
    if (buf[at] !== LBRACKET) {
      choices = 'other';
      return s.value(at, 1);
    }
    const i = s.space(at + 1);
    if (buf[i] !== RBRACKET) return FAIL;
    choices = 'empty';
    return i + 1;
  });
  if (!ok || counts === undefined) return undefined;
  return { usage: counts.usage(), usageOnly: choices === 'empty' };
}

/**
 * The top-level `model` string of the JSON text `buf`; null when the text is a JSON object without
 * one (`JSON.parse` would give no string there); undefined when the text is anything else or the
 * scan cannot be certain (see above).
 */
export function scanModel(buf: Buffer): string | null | undefined {
  const s = new Scan(buf);
  let model = null as string | null;
  let seen = false;
  const ok = s.topLevel((name, at) => {
    if (name !== MODEL) return s.value(at, 1);
    if (seen) return FAIL;
    seen = true;
    if (buf[at] !== QUOTE) return s.value(at, 1);
    const close = s.stringEnd(at, false);
    if (close === FAIL) return FAIL;
    // Between two quotes: the bytes decode as they do within the whole text.
    model = buf.toString('utf8', at + 1, close);
    return close + 1;
  });
  return ok ? model : undefined;
}

/** A count not given, or given as null: both are nullish to `usageFrom`. */
const NONE = -1;

/** The numbers `usageFrom` reads, as the event gave them. */
class Counts {
  prompt = NONE;
  input = NONE;
  completion = NONE;
  output = NONE;
  total = NONE;
  cached = NONE;
  reasoning = NONE;

  /** The same arithmetic as `usageFrom` over the parsed object. */
  usage(): Usage {
    const input = pos(this.prompt !== NONE ? this.prompt : this.input);
    const output = pos(this.completion !== NONE ? this.completion : this.output);
    return makeUsage({
      input,
      output,
      cachedInput: pos(this.cached),
      reasoning: pos(this.reasoning),
      total: this.total !== NONE ? this.total : input + output,
    });
  }
}

function pos(n: number): number {
  return n > 0 ? n : 0;
}

const FAIL = -1;
/** Past this depth of nested objects and arrays the scan declines (events are two or three deep). */
const MAX_DEPTH = 32;
/** More digits could pass 2^53, where `JSON.parse` rounds. */
const MAX_DIGITS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

// The member names the scan tells apart; any other name is OTHER.
const OTHER = 0;
const USAGE = 1;
const CHOICES = 2;
const PROMPT_TOKENS = 3;
const INPUT_TOKENS = 4;
const COMPLETION_TOKENS = 5;
const OUTPUT_TOKENS = 6;
const TOTAL_TOKENS = 7;
const PROMPT_DETAILS = 8;
const COMPLETION_DETAILS = 9;
const CACHED_TOKENS = 10;
const REASONING_TOKENS = 11;
const MODEL = 12;
const NAME_LIST: ReadonlyArray<readonly [string, number]> = [
  ['usage', USAGE],
  ['choices', CHOICES],
  ['prompt_tokens', PROMPT_TOKENS],
  ['input_tokens', INPUT_TOKENS],
  ['completion_tokens', COMPLETION_TOKENS],
  ['output_tokens', OUTPUT_TOKENS],
  ['total_tokens', TOTAL_TOKENS],
  ['prompt_tokens_details', PROMPT_DETAILS],
  ['completion_tokens_details', COMPLETION_DETAILS],
  ['cached_tokens', CACHED_TOKENS],
  ['reasoning_tokens', REASONING_TOKENS],
  ['model', MODEL],
];
/** The names above by their length in bytes: most names in an event match none by length alone. */
const NAMES_BY_LENGTH: Array<Array<readonly [Buffer, number]> | undefined> = [];
for (const [name, id] of NAME_LIST) (NAMES_BY_LENGTH[name.length] ??= []).push([Buffer.from(name), id]);

const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];
const NULL = LITERALS[2] as Buffer;

/**
 * A walk over `buf`: each step takes the index where a token starts and returns the one after it,
 * or FAIL. Past the end `buf[i]` is undefined, which matches no token.
 */
class Scan {
  /** Where the last name read by `name` ends (its closing quote). */
  nameEnd = 0;
  private readonly end: number;

  constructor(private readonly buf: Buffer) {
    this.end = buf.length;
  }

  /** Walks the text as one JSON object (whitespace around it), handing each member to `member`; false when it is not one. */
  topLevel(member: (name: number, at: number) => number): boolean {
    const i = this.space(0);
    if (this.buf[i] !== LBRACE) return false;
    const end = this.members(i, member);
    return end !== FAIL && this.space(end) === this.end;
  }

  space(i: number): number {
    return skipSpace(this.buf, i);
  }

  /** Reads a member name at `i`: which one it is (OTHER for the rest), or FAIL (also for an escape). */
  name(i: number): number {
    if (this.buf[i] !== QUOTE) return FAIL;
    const close = this.stringEnd(i, false);
    if (close === FAIL) return FAIL;
    this.nameEnd = close;
    const candidates = NAMES_BY_LENGTH[close - i - 1];
    if (candidates !== undefined) for (const [bytes, id] of candidates) if (this.bytesAt(i + 1, bytes)) return id;
    return OTHER;
  }

  /**
   * The index of the quote closing the string whose opening quote is at `i`, or FAIL. What
   * `JSON.parse` rejects fails: a control character, a bad escape. So does any escape at all
   * unless `escapes` (a name's escapes could spell a name the scan looks for).
   */
  stringEnd(i: number, escapes: boolean): number {
    const buf = this.buf;
    for (let k = i + 1; k < this.end; k++) {
      const c = buf[k] as number;
      if (c === QUOTE) return k;
      if (c < 0x20) return FAIL;
      if (c !== BACKSLASH) continue;
      if (!escapes) return FAIL;
      const e = buf[++k];
      if (e === 0x75) {
        for (let h = 0; h < 4; h++) if (!isHex(buf[++k])) return FAIL;
      } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
        return FAIL;
      }
    }
    return FAIL;
  }

  /** Skips the JSON value at `i` (checking it); returns the index after it, or FAIL. */
  value(i: number, depth: number): number {
    const buf = this.buf;
    const c = buf[i];
    if (c === QUOTE) {
      const close = this.stringEnd(i, true);
      return close === FAIL ? FAIL : close + 1;
    }
    if (c === LBRACE || c === LBRACKET) {
      if (depth >= MAX_DEPTH) return FAIL;
      const object = c === LBRACE;
      const closer = object ? RBRACE : RBRACKET;
      i = this.space(i + 1);
      if (buf[i] === closer) return i + 1;
      for (;;) {
        if (object) {
          // A skipped member's name is not compared, so it may have escapes.
          const close = buf[i] === QUOTE ? this.stringEnd(i, true) : FAIL;
          if (close === FAIL) return FAIL;
          i = this.space(close + 1);
          if (buf[i] !== COLON) return FAIL;
          i = this.space(i + 1);
        }
        i = this.value(i, depth + 1);
        if (i === FAIL) return FAIL;
        i = this.space(i);
        if (buf[i] === closer) return i + 1;
        if (buf[i] !== COMMA) return FAIL;
        i = this.space(i + 1);
      }
    }
    if (c === MINUS || isDigit(c)) return this.number(i);
    for (const lit of LITERALS) if (this.bytesAt(i, lit)) return i + lit.length;
    return FAIL;
  }

  /** Skips a JSON number at `i` (sign, integer part without leading zeros, fraction, exponent). */
  number(i: number): number {
    const buf = this.buf;
    if (buf[i] === MINUS) i++;
    if (buf[i] === ZERO) i++;
    else if (isDigit(buf[i])) while (isDigit(buf[i])) i++;
    else return FAIL;
    if (buf[i] === DOT) {
      if (!isDigit(buf[++i])) return FAIL;
      while (isDigit(buf[i])) i++;
    }
    if (buf[i] === 0x65 || buf[i] === 0x45) {
      i++;
      if (buf[i] === PLUS || buf[i] === MINUS) i++;
      if (!isDigit(buf[i])) return FAIL;
      while (isDigit(buf[i])) i++;
    }
    return i;
  }

  /** Whether `bytes` (a name, a literal) lie at `i`. */
  bytesAt(i: number, bytes: Buffer): boolean {
    return bytesAt(this.buf, i, bytes);
  }

  /**
   * Reads the usage object at `i` into `counts`; returns the index after it, or FAIL. Its counts
   * must be plain integers or null; its two details objects, objects or null; other members are
   * skipped.
   */
  usageObject(i: number, counts: Counts): number {
    return this.members(i, (name, at) => {
      switch (name) {
        case PROMPT_TOKENS:
          return this.count(at, (n) => (counts.prompt = n));
        case INPUT_TOKENS:
          return this.count(at, (n) => (counts.input = n));
        case COMPLETION_TOKENS:
          return this.count(at, (n) => (counts.completion = n));
        case OUTPUT_TOKENS:
          return this.count(at, (n) => (counts.output = n));
        case TOTAL_TOKENS:
          return this.count(at, (n) => (counts.total = n));
        case PROMPT_DETAILS:
          // A later member replaces an earlier one whole, as in `JSON.parse`.
          counts.cached = NONE;
          return this.details(at, CACHED_TOKENS, (n) => (counts.cached = n));
        case COMPLETION_DETAILS:
          counts.reasoning = NONE;
          return this.details(at, REASONING_TOKENS, (n) => (counts.reasoning = n));
        default:
          return this.value(at, 2);
      }
    });
  }

  /** A details object (or null) whose member `wanted` is a count; the rest skipped. */
  private details(i: number, wanted: number, set: (n: number) => void): number {
    if (this.bytesAt(i, NULL)) return i + NULL.length;
    if (this.buf[i] !== LBRACE) return FAIL;
    return this.members(i, (name, at) => (name === wanted ? this.count(at, set) : this.value(at, 3)));
  }

  /** Walks the object at `i` (its opening brace), handing each member's name and value index to `member`. */
  members(i: number, member: (name: number, at: number) => number): number {
    const buf = this.buf;
    i = this.space(i + 1);
    if (buf[i] === RBRACE) return i + 1;
    for (;;) {
      const name = this.name(i);
      if (name === FAIL) return FAIL;
      i = this.space(this.nameEnd + 1);
      if (buf[i] !== COLON) return FAIL;
      i = member(name, this.space(i + 1));
      if (i === FAIL) return FAIL;
      i = this.space(i);
      if (buf[i] === RBRACE) return i + 1;
      if (buf[i] !== COMMA) return FAIL;
      i = this.space(i + 1);
    }
  }

  /** A token count at `i`: a non-negative integer of at most 15 digits, or null (NONE). */
  private count(i: number, set: (n: number) => void): number {
    if (this.bytesAt(i, NULL)) {
      set(NONE);
      return i + NULL.length;
    }
    const buf = this.buf;
    let n = 0;
    let k = i;
    while (isDigit(buf[k])) n = n * 10 + ((buf[k++] as number) - ZERO);
    const digits = k - i;
    // A fraction or an exponent after the digits fails where the caller expects `,` or `}`.
    if (digits === 0 || digits > MAX_DIGITS || (digits > 1 && buf[i] === ZERO)) return FAIL;
    set(n);
    return k;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}
