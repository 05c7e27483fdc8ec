// The Gemini API names the model and the method in the path: /v1beta/models/{model}:{method}.
import type { Operation } from '../../core/outcome.js';

// Model ids may hold colons themselves (us.amazon.nova-micro-v1:0): the method is after the last one.
export const GEMINI_PATH = /^\/v1beta\/models\/([^/]+):([A-Za-z]+)$/;

/** Gemini methods the gateway serves, with the operation each is. */
export const GEMINI_METHODS: Readonly<Record<string, Operation>> = {
  generateContent: 'gemini_generate',
  streamGenerateContent: 'gemini_generate',
  countTokens: 'gemini_count_tokens',
  embedContent: 'gemini_embed',
  batchEmbedContents: 'gemini_embed',
};

/** Model and method of a ClientRequest subpath (`/models/{model}:{method}`). */
export function geminiTarget(subpath: string): { model: string; method: string } {
  const colon = subpath.lastIndexOf(':');
  return { model: decodeURIComponent(subpath.slice('/models/'.length, colon)), method: subpath.slice(colon + 1) };
}
