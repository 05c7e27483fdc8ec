// Azure OpenAI: the OpenAI API under `/openai/deployments/{deployment}/…?api-version=…`, where the
// deployment is the model name the route sends (after modelNameOverride). Bodies and responses are
// OpenAI's, so the OpenAI translator serves them; only the path changes (and `model`, which Azure
// ignores, stays as the client sent it).
import type { BackendRefConfig } from '../../config/types.js';
import type { Operation } from '../../core/outcome.js';
import { translateOpenAIRequest } from '../openai/request.js';
import { openAIResponseTranslator, translateOpenAIError } from '../openai/response.js';
import { modelFor, unsupported } from '../shared/paths.js';
import type { ClientRequest, Provider, UpstreamRequest } from '../types.js';

/** A GA api-version, used when the AIServiceBackend names none. */
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

/** What Azure OpenAI deployments serve under `/openai/deployments/{deployment}/…`. */
const AZURE_OPERATIONS: ReadonlySet<Operation> = new Set<Operation>(['chat', 'completions', 'embeddings', 'transcriptions', 'translations']);

function translateAzure(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  if (!AZURE_OPERATIONS.has(req.operation)) throw unsupported(req, ref);
  const up = translateOpenAIRequest(req, ref);
  const deployment = modelFor(req, ref);
  const version = ref.backend.schema.version ?? DEFAULT_AZURE_API_VERSION;
  const params = new URLSearchParams(req.query.startsWith('?') ? req.query.slice(1) : req.query);
  params.set('api-version', version);
  return { ...up, path: `/openai/deployments/${encodeURIComponent(deployment)}${req.subpath}?${params.toString()}` };
}

export const azureOpenAIProvider: Provider = {
  name: 'azure-openai',
  translateRequest: translateAzure,
  responseTranslator: openAIResponseTranslator,
  translateError: translateOpenAIError,
};
