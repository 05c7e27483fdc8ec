// CEL expressions over an incoming request (the CEL library's home, next to the cost expressions):
// compiled and type-checked once at config time, evaluated per request. Variables: `headers`
// (map of lower-cased header name to value; repeated headers joined with ", "), `method` and
// `path` (the request line's method and target, query string included, as Envoy's
// `request.path`), and the JSON body's top-level `model` and `user` strings ("" when absent). The
// caller passes a view whose fields may be lazy getters, so an expression that reads only headers
// never scans the body.
import { Environment } from '@marcbachmann/cel-js';
import type { RequestKeyFunction } from '../config/types.js';
import { compileChecked, type CelFailure } from './cel.js';

const env = new Environment()
  .registerVariable('headers', 'map<string, string>')
  .registerVariable('method', 'string')
  .registerVariable('path', 'string')
  .registerVariable('model', 'string')
  .registerVariable('user', 'string');

export const REQUEST_CEL_VARIABLES = ['headers', 'method', 'path', 'model', 'user'] as const;

export type RequestKeyCompileResult = { readonly ok: true; readonly evaluate: RequestKeyFunction } | CelFailure;

export function compileRequestKeyExpression(source: string): RequestKeyCompileResult {
  const compiled = compileChecked(env, source, ['string', 'int', 'uint', 'dyn'], 'a key must be a string (or an integer)');
  if (!compiled.ok) return compiled;
  const program = compiled.program;
  return {
    ok: true,
    evaluate: (view) => {
      let v: unknown;
      try {
        v = program(view);
      } catch {
        // A missing header (`headers["x-user"]` without an `in headers` guard) and the like: no key,
        // so the request is picked on its scores rather than failed.
        return undefined;
      }
      if (typeof v === 'string') return v === '' ? undefined : v;
      if (typeof v === 'bigint' || typeof v === 'number') return String(v);
      if (typeof v === 'object' && v !== null && 'value' in v) return String(v.value);
      return undefined;
    },
  };
}
