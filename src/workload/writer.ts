// Writes one stream of a corpus: sessions in, envelope lines out, split into part files at session
// boundaries, with statistics and the prefix-cache estimate gathered on the way. Each message is
// serialised and token-counted once however many turns repeat it: a turn's prompt count is the
// previous count plus the new messages, and its body is byte copies of cached message buffers.
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
  private readonly headCache = new Map<string, Buffer>();

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

  /** Token contribution of one message under the chat-template recipe (src/tokenizer countChatTokens). */
  messageTokens(m: ChatMessage): number {
    const t = this.template;
    let n = t.perMessage + this.roleCount(m.role) + this.options.counter.count(messageText(m));
    if (typeof m.name === 'string') n += t.perName + this.options.counter.count(m.name);
    return n;
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
    const head = this.head(spec.tools);
    const toolsTokens = spec.tools === undefined || spec.tools.length === 0 ? 0 : o.counter.count(JSON.stringify(spec.tools));

    const bufs: Buffer[] = [];
    let msgTokens = 0; // Σ tokens of messages[0, counted)
    let counted = 0;
    let msgBytes = 0; // bytes of messages[0, counted) joined with commas
    let fed = 0;
    let prevAt = 0;
    let prevLen = 0;
    let prevTailLen = 0;
    const sid = `${o.name}-${si}`;
    for (let k = 0; k < turns.length; k++) {
      const turn = turns[k]!;
      const at = turn.at;
      while (counted < at) {
        const m = spec.messages[counted]!;
        const b = Buffer.from(JSON.stringify(m), 'utf8');
        bufs.push(b);
        msgTokens += this.messageTokens(m);
        msgBytes += b.length + (counted > 0 ? 1 : 0);
        counted++;
      }
      while (fed < at) {
        if (fed > 0) tracker.feed(COMMA);
        tracker.feed(bufs[fed]!);
        fed++;
      }
      const promptTokens = this.template.perReply + toolsTokens + msgTokens;
      let outputTokens = turn.outputTokens;
      if (outputTokens === undefined) {
        const reply = spec.messages[at];
        outputTokens = (reply === undefined ? 0 : this.messageTokens(reply) - this.template.perMessage - this.roleCount(reply.role)) + (turn.extraOutputTokens ?? 0);
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
      if (!delta) {
        file.writeBytes(head);
        for (let i = 0; i < at; i++) {
          if (i > 0) file.writeByte(COMMA_BYTE);
          file.writeBytes(bufs[i]!);
        }
      } else {
        for (let i = prevAt; i < at; i++) {
          file.writeByte(COMMA_BYTE);
          file.writeBytes(bufs[i]!);
        }
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

  private head(tools: readonly unknown[] | undefined): Buffer {
    const key = tools === undefined || tools.length === 0 ? '' : JSON.stringify(tools);
    let h = this.headCache.get(key);
    if (h === undefined) {
      const toolsPart = key === '' ? '' : `,"tools":${key}`;
      h = Buffer.from(`{"model":${JSON.stringify(this.options.model)}${toolsPart},"messages":[`, 'utf8');
      if (this.headCache.size > 64) this.headCache.clear();
      this.headCache.set(key, h);
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
const COMMA = Buffer.from([COMMA_BYTE]);
