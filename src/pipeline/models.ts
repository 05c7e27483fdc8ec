// GET /v1/models and GET /v1/models/{id}: the list the client may use, or one entry of it (ids may
// contain slashes, as in "meta-llama/Llama-3.1-8B", and arrive percent-encoded or not).
import { GatewayError } from '../core/errors.js';

export function modelsAnswer(list: Buffer, path: string): Buffer | string {
  if (path === '/v1/models') return list;
  const raw = path.slice('/v1/models/'.length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    id = raw;
  }
  const parsed = JSON.parse(list.toString('utf8')) as { data: Array<{ id: string }> };
  const found = parsed.data.find((m) => m.id === id);
  if (found === undefined) {
    throw new GatewayError('model_not_found', `The model "${id.slice(0, 200)}" does not exist or is not available to this client; GET /v1/models lists the models.`, { param: 'model' });
  }
  return JSON.stringify(found);
}
