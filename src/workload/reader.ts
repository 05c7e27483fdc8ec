// Reads a corpus back: sessions of a stream in order, with full request bodies rebuilt from delta
// lines, optionally one shard of them. This is what the load harness needs (it sends `body` as is,
// with `x-workload-app: meta.app`), and what the tests use to check every emitted request.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { assembleBody, EnvelopeError, LF, parseLine, type EnvelopeMeta } from './envelope.js';
import { CorpusError, readManifest, type Manifest, type StreamView } from './manifest.js';

export interface ReplayTurn {
  readonly meta: EnvelopeMeta;
  /** The complete request body, ready to send. */
  readonly body: Buffer;
}

export interface ReplaySession {
  readonly stream: string;
  readonly sid: string;
  readonly si: number;
  readonly profile: string;
  readonly app: string;
  readonly turns: readonly ReplayTurn[];
}

export interface Shard {
  /** 0-based shard index. */
  readonly index: number;
  readonly count: number;
}

/** Parses `i/n` (1-based, as `--shard 1/4`) into a 0-based Shard. */
export function parseShard(text: string): Shard | string {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (m === null || n < 1 || i < 1 || i > n) return `"${text}" is not a shard: write i/n with 1 ≤ i ≤ n, e.g. 1/4`;
  return { index: i - 1, count: n };
}

/**
 * The contiguous range of session indexes [start, end) a shard takes from a stream of `sessions`
 * sessions. Contiguous ranges let a shard skip whole part files (the manifest gives each file's
 * first session and count); every stream is split, so each shard gets every profile's mix.
 */
export function shardRange(sessions: number, shard: Shard | undefined): [number, number] {
  if (shard === undefined) return [0, sessions];
  return [Math.floor((shard.index * sessions) / shard.count), Math.floor(((shard.index + 1) * sessions) / shard.count)];
}

export interface ReadOptions {
  readonly stream?: string;
  readonly profile?: string;
  readonly shard?: Shard;
}

export function selectStreams(manifest: Manifest, opts: ReadOptions): StreamView[] {
  const streams = manifest.streams.filter(
    (s) => (opts.stream === undefined || s.name === opts.stream) && (opts.profile === undefined || s.profile === opts.profile),
  );
  if (streams.length === 0) {
    const names = manifest.streams.map((s) => `${s.name} (profile ${s.profile})`).join(', ');
    throw new CorpusError(`no stream matches${opts.stream === undefined ? '' : ` stream "${opts.stream}"`}${opts.profile === undefined ? '' : ` profile "${opts.profile}"`}`, `the corpus has: ${names || 'no streams'}`);
  }
  return streams;
}

/** Sessions of the selected streams (stream by stream, in order). */
export async function* readSessions(dir: string, opts: ReadOptions = {}): AsyncGenerator<ReplaySession> {
  const manifest = readManifest(dir);
  for (const s of selectStreams(manifest, opts)) yield* readStreamSessions(dir, s, opts.shard);
}

export async function* readStreamSessions(dir: string, stream: StreamView, shard?: Shard): AsyncGenerator<ReplaySession> {
  const [start, end] = shardRange(stream.sessions, shard);
  for (const part of stream.parts) {
    if (part.first_session + part.sessions <= start || part.first_session >= end) continue;
    let current: { sid: string; si: number; turns: ReplayTurn[]; meta: EnvelopeMeta } | undefined;
    let lineNo = 0;
    for await (const line of readLines(join(dir, part.file))) {
      lineNo++;
      let parsed;
      try {
        parsed = parseLine(line);
      } catch (err) {
        const msg = err instanceof EnvelopeError ? err.message : String(err);
        throw new CorpusError(`${part.file}:${lineNo}: ${msg}`);
      }
      const { meta } = parsed;
      if (meta.si < start || meta.si >= end) continue;
      if (current !== undefined && meta.turn === 0) {
        yield finishSession(stream.name, current);
        current = undefined;
      }
      if (current === undefined) {
        if (meta.turn !== 0) throw new CorpusError(`${part.file}:${lineNo}: session ${meta.sid} starts at turn ${meta.turn}`);
        current = { sid: meta.sid, si: meta.si, turns: [], meta };
      } else if (meta.sid !== current.sid || meta.turn !== current.turns.length) {
        throw new CorpusError(`${part.file}:${lineNo}: expected turn ${current.turns.length} of ${current.sid}, found turn ${meta.turn} of ${meta.sid}`);
      }
      let body: Buffer;
      try {
        // Copy out of the read buffer: turns outlive it.
        body = Buffer.from(assembleBody(parsed, current.turns[current.turns.length - 1]?.body));
      } catch (err) {
        throw new CorpusError(`${part.file}:${lineNo}: ${err instanceof Error ? err.message : String(err)}`);
      }
      current.turns.push({ meta, body });
    }
    if (current !== undefined) yield finishSession(stream.name, current);
  }
}

function finishSession(stream: string, s: { sid: string; si: number; turns: ReplayTurn[]; meta: EnvelopeMeta }): ReplaySession {
  if (s.turns.length !== s.meta.turns) throw new CorpusError(`session ${s.sid} has ${s.turns.length} turns, its metadata says ${s.meta.turns}`);
  return { stream, sid: s.sid, si: s.si, profile: s.meta.profile, app: s.meta.app, turns: s.turns };
}

/** Lines of a file without their LF, streamed in large chunks (constant memory per line). */
export async function* readLines(path: string): AsyncGenerator<Buffer> {
  let carry: Buffer | undefined;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let buf = carry === undefined ? chunk : Buffer.concat([carry, chunk]);
    carry = undefined;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(LF, start);
      if (nl < 0) break;
      yield buf.subarray(start, nl);
      start = nl + 1;
    }
    if (start < buf.length) {
      buf = buf.subarray(start);
      carry = Buffer.from(buf);
    }
  }
  if (carry !== undefined && carry.length > 0) yield carry;
}
