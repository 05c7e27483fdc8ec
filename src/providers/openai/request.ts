// OpenAI-schema backends (OpenAI, vLLM, every OpenAI-compatible server): the body passes through,
// changed only where the route says so. Unchanged bodies are forwarded byte for byte.
import type { BackendRefConfig, BodyMutation } from '../../config/types.js';
import { isUploadOperation, uploadRequest } from '../shared/transcription.js';
import type { ClientRequest, UpstreamRequest } from '../types.js';

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json' });

export function translateOpenAIRequest(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest {
  const backend = ref.backend;
  if (isUploadOperation(req)) return uploadRequest(req, ref, backend.schema.prefix + req.subpath + req.query);
  let body: Record<string, unknown> | undefined;
  const edit = (): Record<string, unknown> => (body ??= { ...req.body });

  if (ref.modelNameOverride !== undefined && req.body['model'] !== ref.modelNameOverride) {
    edit()['model'] = ref.modelNameOverride;
  }
  applyBodyMutation(backend.bodyMutation, edit);
  applyBodyMutation(ref.bodyMutation, edit);

  // Streamed usage is the only exact count for streams; ask for it even when the client did not.
  let forcedStreamUsage = false;
  if (req.stream && (req.operation === 'chat' || req.operation === 'completions')) {
    const so = (body ?? req.body)['stream_options'];
    const asked = typeof so === 'object' && so !== null && (so as { include_usage?: unknown }).include_usage === true;
    if (!asked) {
      const b = edit();
      b['stream_options'] = { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true };
      forcedStreamUsage = true;
    }
  }

  const final = body ?? req.body;
  const model = final['model'];
  return {
    method: 'POST',
    path: backend.schema.prefix + req.subpath + req.query,
    body: body === undefined ? req.raw : Buffer.from(JSON.stringify(body)),
    model: typeof model === 'string' ? model : undefined,
    headers: JSON_HEADERS,
    forcedStreamUsage,
  };
}

function applyBodyMutation(m: BodyMutation, edit: () => Record<string, unknown>): void {
  if (m.set.length === 0 && m.remove.length === 0) return;
  const b = edit();
  for (const field of m.remove) delete b[field];
  for (const [field, value] of m.set) b[field] = value;
}
