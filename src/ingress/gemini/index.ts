// The native Gemini ingress (/v1beta/models/{model}:generateContent, :streamGenerateContent,
// :countTokens, :embedContent): passed through to Gemini backends, translated through chat
// completions or embeddings for the rest. countTokens never reaches a non-Gemini backend: the
// gateway answers it with its own tokenizer (see count.ts).
import type { ApiSchemaName } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import { pivotRequest, type IngressCodec, type NativeCodec } from '../codec.js';
import { ChatToGemini, EmbeddingsToGemini } from './from-chat.js';
import { GeminiObserver, nativeGeminiRequest } from './native.js';
import { rootUnwrapper } from './schema.js';
import { geminiTarget } from './target.js';
import { embedToEmbeddings, generateToChat } from './to-chat.js';

const NATIVE: NativeCodec = {
  translateRequest: nativeGeminiRequest,
  responseTranslator: (req) => new GeminiObserver(req.stream),
};

/** Backends that run Gemini methods themselves (Vertex AI has no embedContent: it embeds through predict). */
export function speaksGemini(schema: ApiSchemaName, method: string): boolean {
  return schema === 'GeminiAPI' || (schema === 'GCPVertexAI' && method !== 'embedContent' && method !== 'batchEmbedContents');
}

export const geminiCodec: IngressCodec = {
  operations: new Set(['gemini_generate', 'gemini_embed', 'gemini_count_tokens']),
  native: (ref, req) => (speaksGemini(ref.backend.schema.name, geminiTarget(req.subpath).method) ? NATIVE : undefined),
  toPivot(req) {
    const { model, method } = geminiTarget(req.subpath);
    switch (req.operation) {
      case 'gemini_generate':
        return pivotRequest('chat', generateToChat(req.body, model, req.stream), req.stream);
      case 'gemini_embed':
        return pivotRequest('embeddings', embedToEmbeddings(req.body, model, method === 'batchEmbedContents'), false);
      default:
        throw new GatewayError('internal_error', `Gemini method ${method} has no translation; the gateway answers it itself.`);
    }
  },
  fromPivot(req, pivot) {
    if (req.operation === 'gemini_embed') return new EmbeddingsToGemini(pivot, geminiTarget(req.subpath).method === 'batchEmbedContents');
    return new ChatToGemini(pivot, geminiTarget(req.subpath).model, req.stream, rootUnwrapper(req.body));
  },
};
