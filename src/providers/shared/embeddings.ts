// OpenAI embeddings responses written from another provider's vectors. OpenAI SDKs ask for
// `encoding_format: "base64"` by default (little-endian float32), so both encodings are served.
import type { Usage } from '../../core/usage.js';
import { GatewayError } from '../../core/errors.js';
import type { Json } from './json.js';

export function embeddingsBody(vectors: readonly number[][], model: string, usage: Usage | undefined, request: Readonly<Json>): string {
  const base64 = request['encoding_format'] === 'base64';
  const data = vectors.map((v, index) => ({ object: 'embedding', index, embedding: base64 ? floatsBase64(v) : v }));
  return JSON.stringify({
    object: 'list',
    data,
    model,
    // Providers that report no usage (the Gemini API) get zeros here; the gateway's accounting
    // counts those requests with its own tokenizer instead.
    usage: { prompt_tokens: usage?.input ?? 0, total_tokens: usage?.total ?? 0 },
  });
}

export function floatsBase64(v: readonly number[]): string {
  const b = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i] ?? 0, i * 4);
  return b.toString('base64');
}

/** The texts of an embeddings request, for providers that take strings only. */
export function embeddingInputs(body: Readonly<Json>): string[] {
  const input = body['input'];
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) return input;
  throw new GatewayError('invalid_body', '"input" must be a string or a non-empty array of strings for this backend (token arrays are not supported).', { param: 'input' });
}
