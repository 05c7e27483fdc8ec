// The Gemini API names the model and the method in the path: /v1beta/models/{model}:{method}.
import type { Operation } from '../../core/outcome.js';

export const GEMINI_PATH = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/;

/** Gemini methods the gateway serves, with the operation each is. */
export const GEMINI_METHODS: Readonly<Record<string, Operation>> = {
  generateContent: 'gemini_generate',
  streamGenerateContent: 'gemini_generate',
  countTokens: 'gemini_count_tokens',
  embedContent: 'gemini_embed',
};

/** Model and method of a ClientRequest subpath (`/models/{model}:{method}`). */
export function geminiTarget(subpath: string): { model: string; method: string } {
  const colon = subpath.lastIndexOf(':');
  return { model: decodeURIComponent(subpath.slice('/models/'.length, colon)), method: subpath.slice(colon + 1) };
}
