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
  let appendUsageOption = false;
  if (req.stream && (req.operation === 'chat' || req.operation === 'completions')) {
    const so = (body ?? req.body)['stream_options'];
    const asked = typeof so === 'object' && so !== null && (so as { include_usage?: unknown }).include_usage === true;
    if (!asked) {
      // The common case, a body otherwise unchanged and without stream_options: the option is added to
      // the client's bytes, not by writing the whole body (the prompt with it) out again.
      if (body === undefined && so === undefined) appendUsageOption = true;
      else edit()['stream_options'] = { ...(typeof so === 'object' && so !== null ? so : {}), include_usage: true };
      forcedStreamUsage = true;
    }
  }

  const final = body ?? req.body;
  const model = final['model'];
  return {
    method: 'POST',
    path: backend.schema.prefix + req.subpath + req.query,
    body: body !== undefined ? Buffer.from(JSON.stringify(body)) : appendUsageOption ? withUsageOption(req.raw) : req.raw,
    model: typeof model === 'string' ? model : undefined,
    headers: JSON_HEADERS,
    forcedStreamUsage,
  };
}

const USAGE_OPTION = Buffer.from('"stream_options":{"include_usage":true}');
const COMMA = 0x2c;

/**
 * `raw` (a JSON object) with the usage option as its last member, inserted before the closing
 * brace: everything the client wrote stays as it was.
 */
function withUsageOption(raw: Buffer): Buffer {
  const close = raw.lastIndexOf(0x7d); // "}"
  let before = close - 1;
  while (before >= 0 && isJsonSpace(raw[before])) before--;
  // An object with no member yet (a translated body may have none) takes the option without a comma.
  const comma = raw[before] === 0x7b ? 0 : 1;
  // Copied into place, not concatenated: no views of the pieces are made only to be joined.
  const out = Buffer.allocUnsafe(raw.length + comma + USAGE_OPTION.length);
  raw.copy(out, 0, 0, close);
  if (comma === 1) out[close] = COMMA;
  USAGE_OPTION.copy(out, close + comma);
  raw.copy(out, close + comma + USAGE_OPTION.length, close);
  return out;
}

function isJsonSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function applyBodyMutation(m: BodyMutation, edit: () => Record<string, unknown>): void {
  if (m.set.length === 0 && m.remove.length === 0) return;
  const b = edit();
  for (const field of m.remove) delete b[field];
  for (const [field, value] of m.set) b[field] = value;
}
