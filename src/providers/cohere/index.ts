// Cohere's API (AIServiceBackend schema `Cohere`): rerank only, `POST /v2/rerank` (the schema's
// `version` picks another API version). The body is Cohere's own and passes through, but for the
// route's model override and body mutations; the answer passes through with usage read on the side:
// `meta.billed_units` (Cohere: input and output tokens, search units) or `usage` (vLLM's rerank).
import type { BackendRefConfig } from '../../config/types.js';
import { translateOpenAIRequest } from '../openai/request.js';
import { translateOpenAIError } from '../openai/response.js';
import { unsupported } from '../shared/paths.js';
import { RerankObserver } from '../shared/rerank.js';
import type { ClientRequest, Provider, UpstreamRequest } from '../types.js';

function translateCohere(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  if (req.operation !== 'rerank') throw unsupported(req, ref);
  const up = translateOpenAIRequest(req, ref);
  return { ...up, path: `/${ref.backend.schema.version ?? 'v2'}/rerank${req.query}` };
}

export const cohereProvider: Provider = {
  name: 'cohere',
  translateRequest: translateCohere,
  responseTranslator: () => new RerankObserver(),
  translateError: translateOpenAIError,
};
