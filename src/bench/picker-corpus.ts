// The synthetic corpus as the virtual picker bench replays it: the same directory `tollgate synth`
// wrote and the real-stack bench's load harness sends, read once into a compact form. Per session
// it keeps the last turn's request body (every earlier turn's body is a prefix of it plus its own
// `max_tokens` tail), each turn's think time and output length, and, on first use, the token ids of
// every message, tokenized the way the simulator's server tokenizes a chat request. A turn's prompt
// is then its messages' ids and the reply's priming tokens, exactly the ids a simulated replica
// would hash into its prefix cache for that body, and the body is the bytes the gateway's picker
// would see.
import type { ChatMessage } from '../protocol/openai.js';
import { CHAT_TEMPLATES, loadTokenizer, type EncodingName } from '../tokenizer/index.js';
import { pushMessageIds, pushReplyIds, promptCounter, type PromptCounter } from '../sim/prompt.js';
import { CorpusError, readManifest } from '../workload/manifest.js';
import { readStreamSessions, type ReplaySession } from '../workload/reader.js';

export interface CorpusTurn {
  /** Bytes of the last body this turn's body shares: everything up to its last message. */
  readonly bodyPrefix: number;
  /** The rest of this turn's body (`],"max_tokens":…}`). */
  readonly tail: Buffer;
  readonly thinkMs: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
}

export interface CorpusSession {
  readonly sid: string;
  readonly lastBody: Buffer;
  readonly turns: readonly CorpusTurn[];
}

export interface CorpusStream {
  readonly name: string;
  readonly sessions: readonly CorpusSession[];
}

export interface CorpusProfile {
  readonly name: string;
  /** Share of the users (the corpus's session share, as the load harness splits users by default). */
  readonly share: number;
  readonly streams: readonly CorpusStream[];
}

interface Tokenized {
  readonly ids: Uint32Array;
  /** Prompt length in tokens of each turn, priming included. */
  readonly promptEnds: readonly number[];
}

export class VirtualCorpus {
  private readonly tokens = new Map<CorpusSession, Tokenized>();
  private readonly reply: number[] = [];

  constructor(
    readonly dir: string,
    readonly profiles: readonly CorpusProfile[],
    private readonly pc: PromptCounter,
  ) {
    pushReplyIds(pc, this.reply);
  }

  /** Turn `k`'s request body, byte for byte what the load harness sends. */
  body(s: CorpusSession, k: number): Buffer {
    const t = s.turns[k] as CorpusTurn;
    return t.tail.length === 0 && t.bodyPrefix === s.lastBody.length ? s.lastBody : Buffer.concat([s.lastBody.subarray(0, t.bodyPrefix), t.tail]);
  }

  /** Turn `k`'s prompt token ids (tokenizing the session on first use). */
  promptIds(s: CorpusSession, k: number): Uint32Array {
    const tk = this.tokenize(s);
    const n = tk.promptEnds[k] as number;
    const out = new Uint32Array(n);
    const body = n - this.reply.length;
    out.set(tk.ids.subarray(0, body));
    out.set(this.reply, body);
    return out;
  }

  private tokenize(s: CorpusSession): Tokenized {
    let tk = this.tokens.get(s);
    if (tk !== undefined) return tk;
    let messages: ChatMessage[];
    try {
      messages = (JSON.parse(s.lastBody.toString('utf8')) as { messages: ChatMessage[] }).messages;
    } catch {
      throw new CorpusError(`${this.dir}: session ${s.sid}: its last request body is not chat JSON`, 'the virtual bench replays chat corpora written by `tollgate synth`');
    }
    const ids: number[] = [];
    // ends[m]: tokens of messages[0, m) (the reply's priming not included).
    const ends = [0];
    for (const m of messages) {
      pushMessageIds(this.pc, m, ids);
      ends.push(ids.length);
    }
    // Each turn sends a prefix of the messages; which one follows from its prompt_tokens, which the
    // corpus writer counted with the same tokenizer and template. A count that matches no prefix
    // means the corpus was made another way, and its prompts would not be what a replica sees.
    const promptEnds = s.turns.map((t, k) => {
      const m = ends.indexOf(t.promptTokens - this.reply.length);
      if (m <= 0) {
        throw new CorpusError(
          `${this.dir}: session ${s.sid} turn ${k}: prompt_tokens ${t.promptTokens} matches no prefix of its messages`,
          'the corpus must be counted with o200k_harmony and the default chat template (as `tollgate synth` writes it)',
        );
      }
      return t.promptTokens;
    });
    tk = { ids: Uint32Array.from(ids), promptEnds };
    this.tokens.set(s, tk);
    return tk;
  }
}

/** Length of the common prefix of two buffers (binary search over native compares). */
function commonPrefix(a: Buffer, b: Buffer): number {
  let lo = 0;
  let hi = Math.min(a.length, b.length);
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (a.compare(b, 0, mid, 0, mid) === 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function compact(s: ReplaySession): CorpusSession {
  const last = s.turns[s.turns.length - 1];
  if (last === undefined) throw new CorpusError(`session ${s.sid} has no turns`);
  const lastBody = last.body;
  const turns = s.turns.map((t) => {
    const bodyPrefix = commonPrefix(t.body, lastBody);
    return {
      bodyPrefix,
      tail: Buffer.from(t.body.subarray(bodyPrefix)),
      thinkMs: t.meta.think_ms,
      promptTokens: t.meta.prompt_tokens,
      outputTokens: t.meta.output_tokens,
    };
  });
  return { sid: s.sid, lastBody, turns };
}

/**
 * Reads a corpus directory. Only chat streams counted with o200k_harmony can be replayed (those are
 * the token ids a replica of the gpt-oss profile would compute); users are split over profiles by
 * their session counts, as the load harness does without a `mix`.
 */
export async function loadVirtualCorpus(dir: string): Promise<VirtualCorpus> {
  const manifest = readManifest(dir);
  const encoding: EncodingName = 'o200k_harmony';
  const byProfile = new Map<string, CorpusStream[]>();
  let total = 0;
  for (const stream of manifest.streams) {
    if (stream.tokenizer !== encoding) throw new CorpusError(`${dir}: stream ${stream.name} is counted with ${stream.tokenizer}`, `the virtual bench needs ${encoding} (the simulated replicas' encoding)`);
    const sessions: CorpusSession[] = [];
    for await (const s of readStreamSessions(dir, stream)) sessions.push(compact(s));
    if (sessions.length === 0) continue;
    total += sessions.length;
    const list = byProfile.get(stream.profile) ?? [];
    list.push({ name: stream.name, sessions });
    byProfile.set(stream.profile, list);
  }
  if (total === 0) throw new CorpusError(`${dir}: the corpus has no sessions`);
  const profiles = [...byProfile].map(([name, streams]) => ({ name, share: streams.reduce((a, s) => a + s.sessions.length, 0) / total, streams }));
  const tokenizer = await loadTokenizer(encoding);
  return new VirtualCorpus(dir, profiles, promptCounter(tokenizer, CHAT_TEMPLATES[encoding]));
}
