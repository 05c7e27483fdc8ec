// One request inside the engine: its tokens, how many the engine has computed, the KV blocks it
// holds and the timestamps vLLM's request-level metrics are made of.
import type { EngineFinishReason } from './stats.js';

/** `new`: not yet submitted to an engine. */
export type SeqStatus = 'new' | 'waiting' | 'running' | 'finished';

export interface SeqSink {
  /** One new output token (its id is `seq.outputIds[seq.outputIds.length - 1]`), at step end. */
  onToken(seq: Sequence, nowMs: number): void;
  onFinish(seq: Sequence, reason: EngineFinishReason, nowMs: number): void;
}

export interface SequenceInit {
  readonly id: string;
  readonly promptIds: ArrayLike<number>;
  /** Output length the request will produce (the engine stops there: EOS or max_tokens). */
  readonly outputTokens: number;
  /** Whether reaching outputTokens is a max_tokens cut (finish_reason `length`) or a natural stop. */
  readonly stopIsLength: boolean;
  /** Produces the id of the next output token (the text generator's choice). */
  readonly nextTokenId: () => number;
  readonly arrivalMs: number;
  readonly sink: SeqSink;
  /** The request's max_tokens parameter, for vLLM's request_params_max_tokens histogram. */
  readonly maxTokensParam?: number;
}

export class Sequence {
  readonly id: string;
  readonly promptIds: ArrayLike<number>;
  readonly numPrompt: number;
  readonly outputTokens: number;
  readonly stopIsLength: boolean;
  readonly nextTokenId: () => number;
  readonly sink: SeqSink;
  readonly maxTokensParam: number | undefined;
  readonly outputIds: number[] = [];

  status: SeqStatus = 'new';
  numComputed = 0;
  blocks: number[] = [];
  /** Chained hashes of full blocks of prompt + output, computed as far as tokens are known. */
  readonly blockHashes: number[] = [];
  /** How many of `blocks` have been offered to the prefix cache under their hash. */
  cachedBlocks = 0;
  /** Prompt tokens served from the prefix cache at first scheduling (usage.cached_tokens). */
  cachedPromptTokens = -1;
  numPreemptions = 0;

  readonly arrivalMs: number;
  queuedMs: number;
  /** When it first joined the waiting queue (vLLM's QUEUED event). */
  firstQueuedMs = -1;
  scheduledMs = -1;
  firstTokenMs = -1;
  lastTokenMs = -1;
  finishedMs = -1;

  constructor(init: SequenceInit) {
    this.id = init.id;
    this.promptIds = init.promptIds;
    this.numPrompt = init.promptIds.length;
    this.outputTokens = init.outputTokens;
    this.stopIsLength = init.stopIsLength;
    this.nextTokenId = init.nextTokenId;
    this.sink = init.sink;
    this.maxTokensParam = init.maxTokensParam;
    this.arrivalMs = init.arrivalMs;
    this.queuedMs = init.arrivalMs;
  }

  get numTokens(): number {
    return this.numPrompt + this.outputIds.length;
  }

  tokenAt(i: number): number {
    return i < this.numPrompt ? (this.promptIds[i] as number) : (this.outputIds[i - this.numPrompt] as number);
  }
}
