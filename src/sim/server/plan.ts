// Planning one request before it reaches the engine: vLLM's context checks, the output length, and
// whether the reply is text, a JSON object or a tool call.
import type { Rng } from '../rng.js';
import { badRequest } from './errors.js';
import type { SimInstance } from './instance.js';
import type { ChatParams, CompletionParams } from './validate.js';
import type { Mode } from './wire.js';

/** vLLM's context-length check, with its message. */
export function checkContext(inst: SimInstance, promptLen: number, maxTokens: number | undefined, where: 'messages' | 'prompt'): void {
  const maxLen = inst.profile.maxModelLen;
  if (promptLen >= maxLen || (maxTokens !== undefined && promptLen + maxTokens > maxLen)) {
    const req = promptLen + (maxTokens ?? 0);
    throw badRequest(
      `This model's maximum context length is ${maxLen} tokens. However, you requested ${req} tokens ` +
        `(${promptLen} in the ${where}, ${maxTokens ?? 0} in the completion). Please reduce the length of the ${where} or completion.`,
      where,
    );
  }
  const capacity = inst.engine.capacityTokens;
  if (promptLen + (maxTokens ?? 1) > capacity) {
    throw badRequest(`The request needs ${promptLen + (maxTokens ?? 1)} tokens of KV cache but the server holds ${capacity}.`, where);
  }
}

/** How long the output will be, and whether stopping there is a max_tokens cut. */
export function outputPlan(inst: SimInstance, params: ChatParams | CompletionParams, promptLen: number, headerN: number | undefined, rng: Rng): { n: number; length: boolean } {
  const room = inst.profile.maxModelLen - promptLen;
  const max = params.maxTokens;
  const o = inst.profile.output;
  let n: number;
  if (headerN !== undefined) n = headerN;
  else if (max !== undefined && (o.maxTokensMode === 'exact' || params.ignoreEos)) n = max;
  else n = Math.min(o.max, Math.max(o.min, Math.round(rng.lognormal(o.mean, o.sigma))));
  n = Math.max(n, params.minTokens);
  let length = false;
  if (max !== undefined && n >= max) {
    n = max;
    length = true;
  }
  if (n >= room) {
    n = room;
    length = true;
  }
  return { n: Math.max(1, n), length };
}

/** Tool calls when tool_choice demands one; a JSON object for response_format; else text. */
export function modeFor(p: ChatParams, rng: Rng): Mode {
  const callId = `call_${rng.nextU32().toString(36)}${rng.nextU32().toString(36)}`;
  if (typeof p.toolChoice === 'object') return { tool: p.toolChoice.name, callId };
  if (p.toolChoice === 'required') return { tool: p.toolNames[rng.int(p.toolNames.length)] as string, callId };
  if (p.responseFormat !== 'text') return 'json';
  return 'text';
}

