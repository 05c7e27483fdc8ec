// How one chat or text completion request becomes engine sequences: one per choice (n per prompt,
// and a text completion may carry several prompts), each with its planned output length and its
// token source (random text, or a tool-call / response_format document in structured modes). Also
// the usage those sequences add up to. It is separate from generate.ts, which streams the tokens
// out, because planning is done once, up front, and draws from the request's seeded random stream
// in a fixed order: keeping it in one function keeps a seed's output reproducible.
import { Sequence, type SeqSink } from '../engine/sequence.js';
import { chatPromptIds, textPromptIds } from '../prompt.js';
import type { Rng } from '../rng.js';
import { TextGen } from '../text.js';
import { badRequest } from './errors.js';
import type { SimInstance } from './instance.js';
import { checkContext, outputPlan } from './plan.js';
import { structuredDoc, type StructuredDoc } from './structured.js';
import type { ChatParams, CompletionParams } from './validate.js';
import type { Choice, Mode, Usage } from './wire.js';

export interface PlannedChoices {
  readonly choices: Choice[];
  /** Prompt length in tokens, per prompt. */
  readonly promptLens: number[];
  /** Tool-call arguments or response_format documents, per sequence, in structured modes. */
  readonly docs: Map<Sequence, StructuredDoc>;
}

/** Throws a 400 SimHttpError for an empty prompt or one that does not fit the context. */
export function planChoices(
  inst: SimInstance,
  params: ChatParams | CompletionParams,
  ctx: { readonly outputTokens: number | undefined; readonly arrivalMs: number },
  rng: Rng,
  mode: Mode,
  id: string,
  sink: SeqSink,
): PlannedChoices {
  const choices: Choice[] = [];
  const promptLens: number[] = [];
  const docs = new Map<Sequence, StructuredDoc>();
  const prompts: number[][] = [];
  if (params.kind === 'chat') {
    prompts.push(chatPromptIds(inst.prompts, params.messages, inst.countTools ? params.toolsText : undefined));
  } else {
    for (const p of params.prompts) prompts.push(typeof p === 'string' ? textPromptIds(inst.prompts, p) : p);
  }
  const where = params.kind === 'chat' ? 'messages' : 'prompt';
  for (const ids of prompts) {
    if (ids.length === 0) throw badRequest('The prompt is empty: give at least one token of prompt.', where);
    checkContext(inst, ids.length, params.maxTokens, where);
    promptLens.push(ids.length);
  }
  let k = 0;
  prompts.forEach((ids, promptIndex) => {
    for (let j = 0; j < params.n; j++) {
      let plan = outputPlan(inst, params, ids.length, ctx.outputTokens, rng);
      let nextTokenId: () => number;
      let doc: StructuredDoc | undefined;
      if (params.kind === 'chat' && mode !== 'text') {
        const d = structuredDoc(params, mode, inst.outputTokenizer, inst.vocab, rng, plan.n);
        // The document decides the length; max_tokens or the context can only cut it short.
        const n = Math.max(1, Math.min(d.ids.length, params.maxTokens ?? Infinity, inst.profile.maxModelLen - ids.length));
        plan = { n, length: n < d.ids.length };
        let i = 0;
        nextTokenId = () => d.ids[i++] ?? 0;
        doc = d;
      } else {
        const gen = new TextGen(inst.vocab, rng);
        nextTokenId = () => gen.next();
      }
      const seq = new Sequence({
        id: `${id}-${k}`,
        promptIds: ids,
        outputTokens: plan.n,
        stopIsLength: plan.length,
        nextTokenId,
        arrivalMs: ctx.arrivalMs,
        sink,
        ...(params.maxTokens === undefined ? {} : { maxTokensParam: params.maxTokens }),
      });
      const choice: Choice = { index: k, promptIndex, seq, text: '', finish: null, started: false };
      if (doc !== undefined) docs.set(seq, doc);
      choices.push(choice);
      k++;
    }
  });
  return { choices, promptLens, docs };
}

export function usageOf(choices: readonly Choice[], promptLens: readonly number[]): Usage {
  let prompt = 0;
  let cached = 0;
  promptLens.forEach((len, i) => {
    prompt += len;
    const firstChoice = choices.find((c) => c.promptIndex === i);
    cached += Math.max(0, firstChoice?.seq.cachedPromptTokens ?? 0);
  });
  let completion = 0;
  for (const c of choices) completion += c.seq.outputIds.length;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
}
