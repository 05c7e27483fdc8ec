// The replay envelope, version 1: the contract between the corpus tools and the load harness.
// One line per request: `<meta JSON> TAB <body bytes> LF`. JSON.stringify never emits a raw tab
// or newline, so the first TAB ends the metadata and the body is every byte after it up to the LF:
// a reader finds the body with one short scan and sends it without parsing it. Sessions are
// contiguous lines in turn order. With the `delta` layout a turn may reuse the first `prefix`
// bytes of the previous line's (reconstructed) body: body = previous[0, prefix) ++ these bytes,
// which keeps a corpus linear in size when every turn repeats the whole conversation so far.
// docs/workload.md is the specification; change both together and bump ENVELOPE_VERSION.

export const ENVELOPE_VERSION = 1;
export const CORPUS_FORMAT = 'tollgate-workload';
export const MANIFEST_FILE = 'manifest.json';
export const PART_EXTENSION = '.tgw';
export const TAB = 0x09;
export const LF = 0x0a;

export type Layout = 'full' | 'delta';
export const LAYOUTS: readonly Layout[] = ['full', 'delta'];

export interface EnvelopeMeta {
  /** Envelope version (1). */
  readonly v: number;
  /** Session id, unique in the corpus. */
  readonly sid: string;
  /** Session index within its stream: 0, 1, 2… in file order (for sharding). */
  readonly si: number;
  /** Turn index within the session, from 0. */
  readonly turn: number;
  /** Number of turns (requests) in the session. */
  readonly turns: number;
  readonly profile: string;
  /** Value for the `x-workload-app` header. */
  readonly app: string;
  /** Milliseconds to wait after the previous turn's response ends before sending this one. */
  readonly think_ms: number;
  /** Prompt tokens (o200k_harmony, the project's chat-template recipe, plus tool definitions). */
  readonly prompt_tokens: number;
  /** Expected output tokens; the body's max_tokens carries the same number. */
  readonly output_tokens: number;
  /** Whether the body asks for SSE streaming (with `stream_options.include_usage`). */
  readonly stream: boolean;
  /** HTTP path to POST the body to. */
  readonly path: string;
  /** Byte length of the full body (the Content-Length to send). */
  readonly len: number;
  /** Bytes reused from the previous line's body (0: the line holds the whole body). */
  readonly prefix: number;
  /** Recorded arrival offset of the session in ms since the trace start, when the source has one. */
  readonly at_ms?: number;
  /** Where the session came from (file and record), for tracing a bad request back to its source. */
  readonly src?: string;
}

/** Serialises metadata with a fixed key order (cheap, and stable bytes for a given input). */
export function encodeMeta(m: EnvelopeMeta): string {
  let s =
    `{"v":${ENVELOPE_VERSION},"sid":${JSON.stringify(m.sid)},"si":${m.si},"turn":${m.turn},"turns":${m.turns}` +
    `,"profile":${JSON.stringify(m.profile)},"app":${JSON.stringify(m.app)},"think_ms":${m.think_ms}` +
    `,"prompt_tokens":${m.prompt_tokens},"output_tokens":${m.output_tokens},"stream":${m.stream}` +
    `,"path":${JSON.stringify(m.path)},"len":${m.len},"prefix":${m.prefix}`;
  if (m.at_ms !== undefined) s += `,"at_ms":${m.at_ms}`;
  if (m.src !== undefined) s += `,"src":${JSON.stringify(m.src)}`;
  return s + '}';
}

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

export interface ParsedLine {
  readonly meta: EnvelopeMeta;
  /** The body bytes this line holds (the whole body when meta.prefix is 0). */
  readonly segment: Buffer;
}

/** Splits one line (without its LF) into metadata and body bytes; throws EnvelopeError if malformed. */
export function parseLine(line: Buffer): ParsedLine {
  const tab = line.indexOf(TAB);
  if (tab < 0) throw new EnvelopeError('no TAB between metadata and body');
  let raw: unknown;
  try {
    raw = JSON.parse(line.toString('utf8', 0, tab));
  } catch {
    throw new EnvelopeError('metadata is not JSON');
  }
  const meta = checkMeta(raw);
  const segment = line.subarray(tab + 1);
  if (segment.length !== meta.len - meta.prefix) {
    throw new EnvelopeError(`body has ${segment.length} bytes, metadata says ${meta.len - meta.prefix} (len ${meta.len} − prefix ${meta.prefix})`);
  }
  return { meta, segment };
}

function checkMeta(raw: unknown): EnvelopeMeta {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EnvelopeError('metadata is not an object');
  const m = raw as Record<string, unknown>;
  if (m['v'] !== ENVELOPE_VERSION) {
    throw new EnvelopeError(`envelope version ${JSON.stringify(m['v'])} is not supported (this reader understands ${ENVELOPE_VERSION})`);
  }
  for (const k of ['sid', 'profile', 'app', 'path'] as const) {
    if (typeof m[k] !== 'string') throw new EnvelopeError(`metadata field "${k}" must be a string`);
  }
  for (const k of ['si', 'turn', 'turns', 'think_ms', 'prompt_tokens', 'output_tokens', 'len', 'prefix'] as const) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new EnvelopeError(`metadata field "${k}" must be a non-negative integer`);
  }
  if (typeof m['stream'] !== 'boolean') throw new EnvelopeError('metadata field "stream" must be a boolean');
  if ((m['prefix'] as number) > (m['len'] as number)) throw new EnvelopeError('metadata "prefix" is larger than "len"');
  if (m['at_ms'] !== undefined && typeof m['at_ms'] !== 'number') throw new EnvelopeError('metadata field "at_ms" must be a number');
  if (m['src'] !== undefined && typeof m['src'] !== 'string') throw new EnvelopeError('metadata field "src" must be a string');
  return m as unknown as EnvelopeMeta;
}

/**
 * Rebuilds a full body from a line's segment and the previous body of the same session. Costs one
 * copy when the line reuses a prefix, none otherwise.
 */
export function assembleBody(parsed: ParsedLine, previousBody: Buffer | undefined): Buffer {
  const { meta, segment } = parsed;
  if (meta.prefix === 0) return segment;
  if (previousBody === undefined || meta.turn === 0) throw new EnvelopeError(`turn ${meta.turn} reuses ${meta.prefix} bytes but has no previous turn`);
  if (previousBody.length < meta.prefix) throw new EnvelopeError(`turn ${meta.turn} reuses ${meta.prefix} bytes of a ${previousBody.length}-byte body`);
  return Buffer.concat([previousBody.subarray(0, meta.prefix), segment], meta.len);
}
