// Writes one stream of a corpus: sessions in, envelope lines out, split into part files at session
// boundaries, with statistics and the prefix-cache estimate gathered on the way. Each message is
// serialised and token-counted once however many turns repeat it: a turn's prompt count is the
// previous count plus the new messages, and its body is one copy out of the session's arena (its
// messages serialised back to back, as the request's `messages` array carries them).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChatMessage } from '../protocol/openai.js';
import { CHAT_TEMPLATES, messageText, type ChatTemplate } from '../tokenizer/index.js';
import { encodeMeta, ENVELOPE_VERSION, LF, PART_EXTENSION, TAB, type Layout } from './envelope.js';
import { writeStreamSidecar, type BadRecordSummary, type PartEntry, type StreamRecord } from './manifest.js';
import { BufferedFile } from './output.js';
import { PrefixCacheEstimator, type SessionCacheTracker } from './prefix-cache.js';
import { newStatSet, statSetJSON, type StatSet } from './stats.js';
import type { TokenCounter } from './tokens.js';

export const DEFAULT_MODEL = 'gpt-oss-120b';
export const CHAT_PATH = '/v1/chat/completions';

export interface StreamOptions {
  readonly dir: string;
  readonly name: string;
  readonly profile: string;
  readonly app: string;
  /** What produced the stream, e.g. `synth:toolbench` or `unroll:atif`. */
  readonly source: string;
  readonly layout: Layout;
  readonly model: string;
  readonly stream: boolean;
  readonly partBytes: number;
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Add vLLM's `min_tokens` and `ignore_eos` so a real engine generates exactly output_tokens. */
  readonly exactLength: boolean;
  readonly counter: TokenCounter;
  /** Free-form description of how the stream was made (seed, parameters, inputs). */
  readonly generator: Record<string, unknown>;
}

export interface TurnSpec {
  /** Index of the assistant message this request should produce; the prompt is messages[0, at). */
  readonly at: number;
  readonly thinkMs: number;
  /** Expected output tokens; default: the tokens of messages[at] plus `extraOutputTokens`. */
  readonly outputTokens?: number;
  /** Output tokens that never reach the history (reasoning), added to the default. */
  readonly extraOutputTokens?: number;
}

export interface SessionSpec {
  /** Where the session came from, for tracing (file#record, dataset id). */
  readonly src?: string;
  readonly atMs?: number;
  readonly tools?: readonly unknown[];
  readonly messages: readonly ChatMessage[];
  readonly turns: readonly TurnSpec[];
}

export class StreamWriter {
  readonly options: StreamOptions;
  readonly stats: StatSet = newStatSet();
  private readonly cache = new PrefixCacheEstimator();
  private readonly template: ChatTemplate;
  private readonly roleTokens = new Map<string, number>();
  private readonly parts: PartEntry[] = [];
  private part: BufferedFile | undefined;
  private partFirst = 0;
  private partRequests = 0;
  private sessions = 0;
  private requests = 0;
  private bodyBytes = 0;
  private bytesClosed = 0;
  private readonly tailCache = new Map<number, Buffer>();
  private readonly headCache = new Map<string, { head: Buffer; toolsTokens: number }>();
  // Per-session scratch, reused: the serialised messages and where each one ends.
  private arena = Buffer.from(new ArrayBuffer(1 << 20));
  private arenaWords = new Int32Array(this.arena.buffer);
  private readonly ends: number[] = [];
  private readonly openings: Array<{ role: string; content: string; json: string; tokens: number }> = [];

  constructor(options: StreamOptions) {
    this.options = options;
    this.template = CHAT_TEMPLATES[options.counter.tokenizer.encoding];
    rmSync(join(options.dir, options.name), { recursive: true, force: true });
    mkdirSync(join(options.dir, options.name), { recursive: true });
  }

  get sessionCount(): number {
    return this.sessions;
  }

  get requestCount(): number {
    return this.requests;
  }

  /** Bytes written to part files so far. */
  get bytesWritten(): number {
    return this.bytesClosed + (this.part?.bytes ?? 0);
  }

  private roleCount(role: string): number {
    let n = this.roleTokens.get(role);
    if (n === undefined) {
      n = this.options.counter.count(role);
      this.roleTokens.set(role, n);
    }
    return n;
  }

  /** Writes one session; the caller has validated it (turn indexes ascend, prompts non-empty). */
  writeSession(spec: SessionSpec): void {
    const o = this.options;
    const turns = spec.turns;
    if (turns.length === 0) return;
    const si = this.sessions;
    const file = this.currentPart();
    const tracker: SessionCacheTracker = this.cache.session(si);
    const toolsJson = spec.tools === undefined || spec.tools.length === 0 ? '' : JSON.stringify(spec.tools);
    const { head, toolsTokens } = this.head(toolsJson);
    const messages = spec.messages;
    // The session's messages array as it is sent, `m0,m1,…`, serialised once into the arena:
    // ends[i] is where message i ends, so any turn's messages are one contiguous range.
    const ends = this.ends;
    ends.length = 0;
    let arenaUsed = 0;
    let msgTokens = 0; // Σ tokens of messages[0, ends.length)
    let replyTokens = -1; // content tokens of messages[ends.length] when already counted as a reply
    let prevAt = 0;
    let prevLen = 0;
    let prevTailLen = 0;
    const sid = `${o.name}-${si}`;
    for (let k = 0; k < turns.length; k++) {
      const turn = turns[k]!;
      const at = turn.at;
      while (ends.length < at) {
        const m = messages[ends.length]!;
        const first = ends.length === 0 ? this.opening(m) : undefined;
        const json = first?.json ?? JSON.stringify(m);
        if (arenaUsed + 1 + json.length * 3 > this.arena.length) this.growArena(arenaUsed + 1 + json.length * 3);
        if (ends.length > 0) this.arena[arenaUsed++] = COMMA_BYTE;
        arenaUsed += this.arena.write(json, arenaUsed, 'utf8');
        ends.push(arenaUsed);
        const content = first?.tokens ?? (replyTokens >= 0 ? replyTokens : this.contentTokens(m));
        msgTokens += this.template.perMessage + this.roleCount(m.role) + content;
        replyTokens = -1;
      }
      tracker.advance(this.arenaWords, arenaUsed);
      const msgBytes = arenaUsed;
      const promptTokens = this.template.perReply + toolsTokens + msgTokens;
      let outputTokens = turn.outputTokens;
      if (outputTokens === undefined) {
        // The reply is the next prompt's newest message: count it once for both.
        const reply = messages[at];
        if (reply !== undefined) replyTokens = this.contentTokens(reply);
        outputTokens = Math.max(0, replyTokens) + (turn.extraOutputTokens ?? 0);
      }
      outputTokens = Math.max(1, Math.round(outputTokens));
      const tail = this.tail(outputTokens);
      const len = head.length + msgBytes + tail.length;
      const delta = o.layout === 'delta' && k > 0 && prevAt > 0 && prevAt < at;
      const prefix = delta ? prevLen - prevTailLen : 0;

      const meta = encodeMeta({
        v: ENVELOPE_VERSION,
        sid,
        si,
        turn: k,
        turns: turns.length,
        profile: o.profile,
        app: o.app,
        think_ms: k === 0 ? 0 : Math.max(0, Math.round(turn.thinkMs)),
        prompt_tokens: promptTokens,
        output_tokens: outputTokens,
        stream: o.stream,
        path: CHAT_PATH,
        len,
        prefix,
        ...(k === 0 && spec.atMs !== undefined ? { at_ms: Math.round(spec.atMs) } : {}),
        ...(spec.src === undefined ? {} : { src: spec.src }),
      });
      file.writeString(meta);
      file.writeByte(TAB);
      if (delta) {
        // `,m[prevAt],…,m[at-1]`: the arena from the end of the previous prompt.
        file.writeRange(this.arena, ends[prevAt - 1]!, msgBytes);
      } else {
        file.writeBytes(head);
        file.writeRange(this.arena, 0, msgBytes);
      }
      file.writeBytes(tail);
      file.writeByte(LF);

      tracker.request(msgBytes, promptTokens);
      this.stats.prompt_tokens.add(promptTokens);
      this.stats.output_tokens.add(outputTokens);
      this.stats.body_bytes.add(len);
      if (k > 0) this.stats.think_ms.add(Math.max(0, Math.round(turn.thinkMs)));
      this.requests++;
      this.partRequests++;
      this.bodyBytes += len;
      prevAt = at;
      prevLen = len;
      prevTailLen = tail.length;
    }
    this.stats.turns_per_session.add(turns.length);
    this.sessions++;
    if (file.bytes >= o.partBytes) this.closePart();
  }

  /**
   * JSON and content tokens of a session's first message when it is a long `{role, content}` one
   * seen at the start of one of the last few sessions: the system prompt most datasets repeat in
   * every session is then serialised and counted once. Only a handful are kept: holding on to
   * every long text would cost the garbage collector more than repeats save.
   */
  private opening(m: ChatMessage): { json: string; tokens: number } | undefined {
    const c = m.content;
    if (typeof c !== 'string' || c.length < 512) return undefined;
    const keys = Object.keys(m);
    if (keys.length !== 2 || keys[0] !== 'role' || keys[1] !== 'content') return undefined;
    const recent = this.openings;
    for (const e of recent) if (e.role === m.role && e.content === c) return e;
    const e = { role: m.role, content: c, json: JSON.stringify(m), tokens: this.contentTokens(m) };
    if (recent.length >= MAX_OPENINGS) recent.shift();
    recent.push(e);
    return e;
  }

  /** Tokens of a message's text and name, without the template's per-message and role tokens. */
  private contentTokens(m: ChatMessage): number {
    const c = this.options.counter;
    let n = c.count(messageText(m));
    if (typeof m.name === 'string') n += this.template.perName + c.count(m.name);
    return n;
  }

  private growArena(need: number): void {
    let size = this.arena.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.from(new ArrayBuffer(size));
    this.arena.copy(next);
    this.arena = next;
    this.arenaWords = new Int32Array(next.buffer);
  }

  /** Closes the files and writes the stream's sidecar record; returns it. */
  finish(bad: BadRecordSummary): StreamRecord {
    this.closePart();
    const o = this.options;
    const record: StreamRecord = {
      name: o.name,
      profile: o.profile,
      app: o.app,
      source: o.source,
      layout: o.layout,
      model: o.model,
      stream: o.stream,
      path: CHAT_PATH,
      tokenizer: o.counter.tokenizer.encoding,
      envelope_version: ENVELOPE_VERSION,
      sessions: this.sessions,
      requests: this.requests,
      bytes: this.bytesClosed,
      body_bytes: this.bodyBytes,
      parts: this.parts,
      stats: statSetJSON(this.stats),
      prefix_cache: this.cache.result(),
      bad_records: bad,
      generator: o.generator,
    };
    writeStreamSidecar(o.dir, record);
    return record;
  }

  private currentPart(): BufferedFile {
    if (this.part === undefined) {
      const file = `${this.options.name}/part-${String(this.parts.length).padStart(5, '0')}${PART_EXTENSION}`;
      this.part = new BufferedFile(join(this.options.dir, file));
      this.partFirst = this.sessions;
      this.partRequests = 0;
    }
    return this.part;
  }

  private closePart(): void {
    const p = this.part;
    if (p === undefined) return;
    p.close();
    this.parts.push({
      file: `${this.options.name}/part-${String(this.parts.length).padStart(5, '0')}${PART_EXTENSION}`,
      first_session: this.partFirst,
      sessions: this.sessions - this.partFirst,
      requests: this.partRequests,
      bytes: p.bytes,
    });
    this.bytesClosed += p.bytes;
    this.part = undefined;
  }

  /** `{"model":…,"tools":…,"messages":[`, everything before the first message, and the tools' tokens. */
  private head(toolsJson: string): { head: Buffer; toolsTokens: number } {
    let h = this.headCache.get(toolsJson);
    if (h === undefined) {
      const toolsPart = toolsJson === '' ? '' : `,"tools":${toolsJson}`;
      h = {
        head: Buffer.from(`{"model":${JSON.stringify(this.options.model)}${toolsPart},"messages":[`, 'utf8'),
        toolsTokens: toolsJson === '' ? 0 : this.options.counter.count(toolsJson),
      };
      if (this.headCache.size > 64) this.headCache.clear();
      this.headCache.set(toolsJson, h);
    }
    return h;
  }

  /** `],"max_tokens":N…}`: everything after the last message. */
  tail(outputTokens: number): Buffer {
    let t = this.tailCache.get(outputTokens);
    if (t === undefined) {
      const o = this.options;
      let s = `],"${o.maxTokensField}":${outputTokens}`;
      if (o.exactLength) s += `,"min_tokens":${outputTokens},"ignore_eos":true`;
      if (o.stream) s += ',"stream":true,"stream_options":{"include_usage":true}';
      t = Buffer.from(s + '}', 'utf8');
      if (this.tailCache.size > 100_000) this.tailCache.clear();
      this.tailCache.set(outputTokens, t);
    }
    return t;
  }
}

const COMMA_BYTE = 0x2c;
const MAX_OPENINGS = 4;
