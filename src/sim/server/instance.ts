// One simulated server: its profile, engine, step loop, tokenizer, request log and fault settings.
// The HTTP layer (http.ts) routes requests here; several instances make a multi-replica backend.
import { loadTokenizer, type ChatTemplate, type EncodingName, type Tokenizer } from '../../tokenizer/index.js';
import { Engine, engineConfig } from '../engine/engine.js';
import { RealtimeLoop } from '../engine/loop.js';
import type { SimProfile } from '../profile.js';
import { promptCounter, type PromptCounter } from '../prompt.js';
import { Rng } from '../rng.js';
import { buildVocab, type Vocab } from '../text.js';
import { isNoFault, NO_FAULT, parseFaultSpec, type FaultPlan, type RatedFault } from './faults.js';
import { RequestLog } from './request-log.js';

export interface InstanceOptions {
  readonly profile: SimProfile;
  readonly model?: string;
  readonly apiKey?: string;
  readonly seed?: number;
  /** Count prompt tokens with another encoding than the profile's (to produce drift for the audit). */
  readonly encoding?: EncodingName;
  /** Count with another chat template (a different tokenizer "version"). */
  readonly template?: ChatTemplate;
  /** Also count the JSON of `tools` as prompt tokens, as a real chat template renders them. */
  readonly countTools?: boolean;
  readonly faults?: readonly RatedFault[];
  /** Serve vLLM's deprecated metric names too (gpu_cache_usage_perc, time_per_output_token_seconds, …). */
  readonly showHiddenMetrics?: boolean;
  readonly requestLogSize?: number;
}

export class SimInstance {
  readonly profile: SimProfile;
  readonly model: string;
  readonly apiKey: string | undefined;
  readonly seed: number;
  readonly engine: Engine;
  readonly loop: RealtimeLoop;
  readonly log: RequestLog;
  readonly faults: readonly RatedFault[];
  readonly showHiddenMetrics: boolean;
  readonly countTools: boolean;
  readonly startedAtMs = Date.now();
  readonly tokenizer: Tokenizer;
  readonly prompts: PromptCounter;
  readonly vocab: Vocab;
  /** The served model's own encoding: what output text is made of and re-tokenizes to. */
  readonly outputTokenizer: Tokenizer;
  /** Requests currently being answered (any phase), for graceful close and stats. */
  inFlight = 0;
  private counter = 0;
  private readonly faultRng: Rng;

  private constructor(opts: InstanceOptions, tokenizer: Tokenizer, vocabTokenizer: Tokenizer) {
    this.profile = opts.profile;
    this.model = opts.model ?? opts.profile.servedModel;
    this.apiKey = opts.apiKey === '' ? undefined : opts.apiKey;
    this.seed = opts.seed ?? 0;
    this.engine = new Engine(engineConfig(opts.profile));
    this.loop = new RealtimeLoop(this.engine);
    this.log = new RequestLog(opts.requestLogSize ?? 10_000);
    this.faults = opts.faults ?? [];
    this.showHiddenMetrics = opts.showHiddenMetrics ?? false;
    this.countTools = opts.countTools ?? false;
    this.tokenizer = tokenizer;
    this.prompts = promptCounter(tokenizer, opts.template);
    // Output text uses the served model's own encoding, so the reply re-tokenizes to its usage count.
    this.vocab = buildVocab(vocabTokenizer);
    this.outputTokenizer = vocabTokenizer;
    this.faultRng = new Rng(this.seed, 0x7fa17);
  }

  static async create(opts: InstanceOptions): Promise<SimInstance> {
    const encoding = opts.encoding ?? opts.profile.encoding;
    const [tok, vocabTok] = await Promise.all([loadTokenizer(encoding), loadTokenizer(opts.profile.encoding)]);
    return new SimInstance(opts, tok, vocabTok);
  }

  /** A fresh, reproducible random stream for the next request. */
  nextRequestRng(): { rng: Rng; index: number } {
    const index = ++this.counter;
    return { rng: new Rng(this.seed, index), index };
  }

  /** Faults for one request: the header's, then each configured rate rolled once. */
  faultsFor(header: string | undefined): FaultPlan {
    let plan: FaultPlan | undefined;
    if (header !== undefined && header.trim() !== '') plan = parseFaultSpec(header);
    for (const f of this.faults) {
      if (f.rate > 0 && this.faultRng.next() < f.rate) plan = parseFaultSpec(f.spec, plan ?? { ...NO_FAULT });
    }
    return plan === undefined || isNoFault(plan) ? NO_FAULT : plan;
  }

  close(): void {
    this.loop.stop();
  }
}
