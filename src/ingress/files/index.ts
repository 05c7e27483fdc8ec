// OpenAI's Files and Batch APIs, passed through to OpenAI-schema backends. Ids are the backend's.
// What the gateway adds is ownership: a file or batch belongs to the caller that created it (its
// credential and x-workload-app), so another caller's id answers 404 and lists show only the
// caller's own; and a later request for an id goes to the backend that holds it. These requests
// carry no model, so they are routed by the rules that match without one (on x-workload-app or
// other headers), and such a rule must have one backend: a file lives where it was uploaded.
import type { RuleConfig } from '../../config/types.js';
import { GatewayError } from '../../core/errors.js';
import type { Operation } from '../../core/outcome.js';
import { readJsonBody, type RequestBody } from '../../pipeline/body.js';
import type { Req } from '../../pipeline/http.js';
import { readUpload } from '../../pipeline/upload.js';
import type { Json } from '../../providers/shared/json.js';
import type { ClientRequest, UpstreamRequest } from '../../providers/types.js';
import type { IngressCodec, NativeCodec } from '../codec.js';
import type { IngressContext, IngressMatch } from '../index.js';
import { callerScope } from '../responses/state.js';
import { FilesAnswer, madeOwned, ownedForList, setOwnedForList } from './answer.js';
import { ownedStoreFor, type ObjectKind } from './store.js';

const PATH = /^\/v1\/(files|batches)(?:\/([A-Za-z0-9_.-]{1,200})(\/content|\/cancel)?)?$/;

interface Target {
  readonly kind: ObjectKind;
  readonly id: string | undefined;
  readonly tail: string | undefined;
}

// What prepare learned for the hooks after it: the backend an id lives on (per request body).
const pinned = new WeakMap<object, string>();
// The backend a create went to, for the record kept when it succeeds.
const servedBy = new WeakMap<object, string>();

export function filesAndBatches(path: string): IngressMatch | undefined {
  const m = PATH.exec(path);
  if (m === null) return undefined;
  const kind: ObjectKind = m[1] === 'files' ? 'file' : 'batch';
  const t: Target = { kind, id: m[2], tail: m[3] };
  if (t.tail === '/content' && kind !== 'file') return undefined;
  if (t.tail === '/cancel' && kind !== 'batch') return undefined;
  const operation: Operation = kind === 'file' ? 'files' : 'batches';
  return {
    operation,
    subpath: path.slice(3),
    methods: methodsOf(t),
    readBody: (req, res, limit, limits) => {
      if (kind === 'file' && t.id === undefined && req.method === 'POST') return readUpload(req, res, limit, limits.uploadLookaheadBytes, false);
      if (req.method === 'POST' && hasBody(req)) return readJsonBody(req, res, limit, limits);
      return Promise.resolve(EMPTY_BODY());
    },
    prepare: (ctx, body) => prepare(ctx, body, t),
    answer: (_ctx, body, rule) => Promise.resolve(checkBackend(body, rule, t)),
    finished: (ctx, client, status) => finished(ctx, client, status, t),
  };
}

function methodsOf(t: Target): readonly string[] {
  if (t.id === undefined) return ['GET', 'POST'];
  if (t.tail === '/cancel') return ['POST'];
  if (t.tail === '/content') return ['GET'];
  return t.kind === 'file' ? ['GET', 'DELETE'] : ['GET'];
}

function EMPTY_BODY(): RequestBody {
  return { body: {}, raw: Buffer.alloc(0) };
}

function hasBody(req: Req): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function notFound(kind: ObjectKind, id: string, param?: string): GatewayError {
  return new GatewayError(
    kind === 'file' ? 'file_not_found' : 'batch_not_found',
    `No ${kind} with id ${JSON.stringify(id.slice(0, 100))}. A ${kind} can be used only by the caller that created it (same credential and x-workload-app).`,
    param === undefined ? {} : { param },
  );
}

async function prepare(ctx: IngressContext, body: Readonly<Json>, t: Target): Promise<void> {
  const store = ownedStoreFor(ctx.limits);
  const scope = callerScope(ctx);
  if (t.id !== undefined) {
    const r = await store.get(t.kind, t.id);
    if (r === undefined || r.scope !== scope) throw notFound(t.kind, t.id);
    pinned.set(body, r.backend);
    return;
  }
  if (ctx.method === 'GET') {
    setOwnedForList(body, await store.owned(t.kind, scope));
    return;
  }
  if (t.kind === 'batch') {
    const input = body['input_file_id'];
    if (typeof input !== 'string' || input === '') throw new GatewayError('invalid_body', 'A batch needs "input_file_id": the id of a file uploaded with purpose "batch".', { param: 'input_file_id' });
    const f = await store.get('file', input);
    if (f === undefined || f.scope !== scope) throw notFound('file', input, 'input_file_id');
    pinned.set(body, f.backend);
  }
}

/** The rule must send the request where the object lives; a rule that could pick another backend cannot serve files. */
function checkBackend(body: Readonly<Json>, rule: RuleConfig, t: Target): undefined {
  const refs = rule.backendRefs;
  const only = refs[0]?.backend.key;
  if (refs.length !== 1 || only === undefined) {
    throw new GatewayError(
      'invalid_body',
      `Rule "${rule.id}" has ${refs.length} backends; files and batches need a rule with one (a file lives on the backend it was uploaded to). Match these requests with a rule of their own.`,
    );
  }
  const pin = pinned.get(body);
  if (pin !== undefined && pin !== only) throw notFound(t.id === undefined ? 'file' : t.kind, t.id ?? String(body['input_file_id']));
  servedBy.set(body, only);
  return undefined;
}

async function finished(ctx: IngressContext, client: ClientRequest, status: number, t: Target): Promise<void> {
  if (status < 200 || status >= 300) return;
  const store = ownedStoreFor(ctx.limits);
  const scope = callerScope(ctx);
  const backend = servedBy.get(client.body);
  if (backend !== undefined) for (const o of madeOwned(client)) await store.put(o.kind, o.id, { scope, backend });
  if (t.id !== undefined && ctx.method === 'DELETE') await store.delete(t.kind, t.id, scope);
}

const NATIVE: NativeCodec = {
  translateRequest(req: ClientRequest, ref): UpstreamRequest {
    const method = req.method === 'GET' || req.method === 'DELETE' ? req.method : 'POST';
    const path = ref.backend.schema.prefix + req.subpath + req.query;
    if (req.upload !== undefined) {
      const headers: Record<string, string> = { 'content-type': req.upload.contentType };
      if (req.upload.declaredLength !== undefined) headers['content-length'] = String(req.upload.declaredLength);
      return { method, path, body: req.raw, model: undefined, headers, forcedStreamUsage: false };
    }
    return { method, path, body: req.raw, model: undefined, headers: req.raw.length === 0 ? {} : { 'content-type': 'application/json' }, forcedStreamUsage: false };
  },
  responseTranslator: (req, contentType) => new FilesAnswer(req, contentType, ownedForList(req.body)),
};

export const filesCodec: IngressCodec = {
  operations: new Set<Operation>(['files', 'batches']),
  native: (ref) => (ref.backend.schema.name === 'OpenAI' ? NATIVE : undefined),
  toPivot: () => {
    throw new GatewayError('invalid_body', 'Files and batches are served by OpenAI-schema backends only (OpenAI, vLLM and other OpenAI-compatible servers); route them to one.');
  },
  fromPivot: (_req, pivot) => pivot,
};
