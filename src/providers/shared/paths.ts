// Upstream paths and model names shared by the translating providers.
import type { BackendRefConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import type { ClientRequest } from '../types.js';
import type { Json } from './json.js';

/** The model sent upstream: the route's modelNameOverride, else the client's. */
export function modelFor(req: ClientRequest, ref: BackendRefConfig): string {
  const m = ref.modelNameOverride ?? req.body['model'];
  if (typeof m !== 'string' || m === '') {
    throw new GatewayError('missing_model', `Backend "${ref.backend.name}" (${ref.backend.schema.name}) needs a model: add "model" to the body or a modelNameOverride to the route.`, {
      param: 'model',
    });
  }
  return m;
}

/**
 * Vertex AI publisher model path: `/v1/projects/P/locations/R/publishers/X/models/M:method`. Model
 * versions keep their `@` (claude-sonnet-4-5@20250929), as Google's documentation writes them.
 */
export function vertexPath(ref: BackendRefConfig, publisher: 'google' | 'anthropic', model: string, method: string, apiVersion = 'v1'): string {
  const c = ref.backend.credential;
  const gcp = c?.kind === 'bearer-token' ? c.gcp : undefined;
  if (gcp === undefined) {
    throw new GatewayError('internal_error', `Backend "${ref.backend.name}" has no GCP project and region (config compilation should have refused it).`);
  }
  return `/${apiVersion}/projects/${encodeURIComponent(gcp.project)}/locations/${encodeURIComponent(gcp.region)}/publishers/${publisher}/models/${encodeURIComponent(model).replace(/%40/g, '@')}:${method}`;
}

/** AIServiceBackend and route bodyMutation, applied to the translated (provider-native) body. */
export function applyBodyMutations(body: Json, ref: BackendRefConfig): Json {
  for (const m of [ref.backend.bodyMutation, ref.bodyMutation]) {
    for (const f of m.remove) delete body[f];
    for (const [f, v] of m.set) body[f] = v;
  }
  return body;
}

/** A request the backend's API cannot serve, as a client error that says where to go instead. */
export function unsupported(req: ClientRequest, ref: BackendRefConfig): GatewayError {
  const what = req.operation === 'embeddings' ? 'embeddings' : req.operation === 'completions' ? 'legacy text completions' : req.operation;
  return new GatewayError(
    'invalid_body',
    `Backend "${ref.backend.name}" speaks the ${ref.backend.schema.name} API, which has no ${what}; ${req.operation === 'completions' ? 'use /v1/chat/completions' : 'route this request to another backend'}.`,
  );
}
