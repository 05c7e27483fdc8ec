// CEL cost expressions (the CEL library's one home). Compiled and type-checked once at config time
// with Envoy AI Gateway's variables: `model`, `backend`, `route_name` (strings) and the token counts
// `input_tokens`, `cached_input_tokens`, `cache_creation_input_tokens`, `output_tokens`,
// `reasoning_tokens`, `total_tokens` (uint, so `input_tokens == uint(3)` works as in its examples).
import { Environment, ParseError, TypeError as CelTypeError } from '@marcbachmann/cel-js';
import { UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import type { CostFunction, CostInput } from '../config/types.js';

const env = new Environment()
  .registerVariable('model', 'string')
  .registerVariable('backend', 'string')
  .registerVariable('route_name', 'string')
  .registerVariable('input_tokens', 'uint')
  .registerVariable('cached_input_tokens', 'uint')
  .registerVariable('cache_creation_input_tokens', 'uint')
  .registerVariable('output_tokens', 'uint')
  .registerVariable('reasoning_tokens', 'uint')
  .registerVariable('total_tokens', 'uint');

export const CEL_VARIABLES = [
  'model',
  'backend',
  'route_name',
  'input_tokens',
  'cached_input_tokens',
  'cache_creation_input_tokens',
  'output_tokens',
  'reasoning_tokens',
  'total_tokens',
] as const;

export interface CelFailure {
  readonly ok: false;
  readonly message: string;
  /** 0-based offset in the expression, when known. */
  readonly offset: number | undefined;
}

export type CelCompileResult = { readonly ok: true; readonly evaluate: CostFunction } | CelFailure;

const MAX_COST = Number.MAX_SAFE_INTEGER;

type Program = ReturnType<Environment['parse']>;

/**
 * Parses and type-checks `source` in `environment` once, at config time; the result type must be
 * one of `types` (`what` names it in the error, e.g. "a cost must be a number").
 */
export function compileChecked(environment: Environment, source: string, types: readonly string[], what: string): { readonly ok: true; readonly program: Program } | CelFailure {
  let program: Program;
  try {
    program = environment.parse(source);
  } catch (err) {
    return celFailure(err);
  }
  const checked = program.check();
  if (!checked.valid) return celFailure(checked.error);
  if (!types.includes(checked.type ?? '')) {
    return { ok: false, message: `the expression gives a ${checked.type ?? 'value'}, but ${what}`, offset: undefined };
  }
  return { ok: true, program };
}

export function compileCostExpression(source: string): CelCompileResult {
  const compiled = compileChecked(env, source, ['int', 'uint', 'double', 'dyn'], 'a cost must be a number');
  if (!compiled.ok) return compiled;
  const program = compiled.program;
  const evaluate: CostFunction = (input) => {
    try {
      return toCost(program(context(input)));
    } catch {
      // Runtime errors (overflow, uint underflow in `a - b`) cost nothing rather than failing a request.
      return 0;
    }
  };
  return { ok: true, evaluate };
}

function context(i: CostInput): Record<string, unknown> {
  return {
    model: i.model,
    backend: i.backend,
    route_name: i.routeName,
    input_tokens: new UnsignedInt(i.inputTokens),
    cached_input_tokens: new UnsignedInt(i.cachedInputTokens),
    cache_creation_input_tokens: new UnsignedInt(i.cacheCreationInputTokens),
    output_tokens: new UnsignedInt(i.outputTokens),
    reasoning_tokens: new UnsignedInt(i.reasoningTokens),
    total_tokens: new UnsignedInt(i.totalTokens),
  };
}

function toCost(v: unknown): number {
  let n: number;
  if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'number') n = v;
  else if (v instanceof UnsignedInt) n = Number(v.value);
  else return 0;
  if (!Number.isFinite(n) || n <= 0) return 0;
  return Math.min(MAX_COST, Math.floor(n));
}

function celFailure(err: unknown): CelFailure {
  const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
  let offset: number | undefined;
  if (err instanceof ParseError || err instanceof CelTypeError) {
    const range = (err as { range?: { start?: number } }).range;
    if (typeof range?.start === 'number') offset = range.start;
  }
  if (offset === undefined && err instanceof Error) {
    // The library renders a caret under the offending column: "   1 | expr\n         ^".
    const lines = err.message.split('\n');
    const caret = lines.findIndex((l) => /^\s*\^\s*$/.test(l));
    const code = caret > 0 ? lines[caret - 1] : undefined;
    const m = code === undefined ? null : /^(>?\s*\d+ \| )/.exec(code);
    if (m?.[1] !== undefined && caret > 0) offset = (lines[caret] ?? '').indexOf('^') - m[1].length;
  }
  return { ok: false, message, offset: offset !== undefined && offset >= 0 ? offset : undefined };
}

/** The cost functions for the non-CEL llmRequestCosts types. */
export const TOKEN_COSTS: Readonly<Record<'InputToken' | 'CachedInputToken' | 'CacheCreationInputToken' | 'OutputToken' | 'ReasoningToken' | 'TotalToken', CostFunction>> = {
  InputToken: (i) => i.inputTokens,
  CachedInputToken: (i) => i.cachedInputTokens,
  CacheCreationInputToken: (i) => i.cacheCreationInputTokens,
  OutputToken: (i) => i.outputTokens,
  ReasoningToken: (i) => i.reasoningTokens,
  TotalToken: (i) => i.totalTokens,
};
