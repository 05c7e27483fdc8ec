// The ingress table: which client API a request path belongs to, and what the request path needs to
// know about it beyond the OpenAI flow (a model named in the path, streaming chosen by the path,
// endpoints the gateway answers itself, state kept around a request). The handler looks a path up
// here once; each API's translators live in its own folder and reach backends through `codec.ts`.
import type { RuleConfig } from '../config/types.js';
import type { Operation } from '../core/outcome.js';
import type { Limits } from '../limits/index.js';
import type { Json } from '../providers/shared/json.js';
import type { RequestBody } from '../pipeline/body.js';
import type { Req, RequestLimits, Res } from '../pipeline/http.js';
import type { ClientRequest } from '../providers/types.js';
import { AUDIO_UPLOADS } from './audio/index.js';
import { filesAndBatches } from './files/index.js';
import { COUNT_SOURCE_HEADER, countLocally } from './gemini/count.js';
import { speaksGemini } from './gemini/index.js';
import { GEMINI_METHODS, GEMINI_PATH } from './gemini/target.js';
import { checkGenerateBody } from './gemini/to-chat.js';
import { callerScope, keepResponse, loadConversation, serveStored } from './responses/state.js';
import { responseStoreFor } from './responses/store.js';

/** What every hook sees: the request's headers as they arrived (before authentication rewrote them). */
export interface IngressContext {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The workload of the virtual key that authenticated the request (the caller's identity), if one did. */
  readonly keyWorkload: string | undefined;
  readonly limits: Limits;
  readonly method: string;
  readonly query: URLSearchParams;
}

export interface LocalAnswer {
  readonly status: number;
  readonly body: Json;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface IngressMatch {
  readonly operation: Operation;
  /** The path after the API version prefix, as providers see it. */
  readonly subpath: string;
  readonly methods: readonly string[];
  /** The model the path names (routing uses it instead of the body's). */
  readonly model?: string;
  /** Streaming as the path chooses it (instead of the body's `stream`). */
  readonly stream?: boolean;
  /** Reads a body that is not JSON (a multipart upload); the pipeline reads JSON otherwise. */
  readBody?(req: Req, res: Res, limit: number, limits: RequestLimits): Promise<RequestBody>;
  /** Answered by the gateway from its own state, without a body, a route or a backend. */
  serve?(ctx: IngressContext): Promise<LocalAnswer>;
  /** Before routing, with the parsed body: load state the request refers to (throws GatewayError). */
  prepare?(ctx: IngressContext, body: Readonly<Json>): Promise<void>;
  /** After routing: an answer the gateway gives itself for this route's backend, or undefined to proxy. */
  answer?(ctx: IngressContext, body: Readonly<Json>, rule: RuleConfig): Promise<LocalAnswer | undefined>;
  /** The proxied request ended (any status); keeps state it produced. */
  finished?(ctx: IngressContext, client: ClientRequest, status: number): Promise<void>;
}

const RESPONSES: IngressMatch = {
  operation: 'responses',
  subpath: '/responses',
  methods: ['POST'],
  prepare: (ctx, body) => loadConversation(responseStoreFor(ctx.limits), callerScope(ctx), body),
  finished: async (ctx, client, status) => {
    if (status >= 200 && status < 300) await keepResponse(responseStoreFor(ctx.limits), callerScope(ctx), client);
  },
};

const STORED_RESPONSE = /^\/v1\/responses\/([A-Za-z0-9_-]{1,200})(\/input_items|\/cancel)?$/;

function storedResponse(path: string): IngressMatch | undefined {
  const m = STORED_RESPONSE.exec(path);
  const id = m?.[1];
  if (m === null || id === undefined) return undefined;
  const part = m[2] === '/input_items' ? 'input_items' : m[2] === '/cancel' ? 'cancel' : 'response';
  return {
    operation: 'responses_state',
    subpath: path.slice(3),
    methods: part === 'response' ? ['GET', 'DELETE'] : part === 'cancel' ? ['POST'] : ['GET'],
    serve: (ctx) => serveStored(responseStoreFor(ctx.limits), callerScope(ctx), ctx.method, id, part, ctx.query),
  };
}

function gemini(path: string): IngressMatch | undefined {
  const m = GEMINI_PATH.exec(path);
  const model = m?.[1];
  const method = m?.[2];
  if (model === undefined || method === undefined) return undefined;
  const operation = GEMINI_METHODS[method];
  if (operation === undefined) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(model);
  } catch {
    return undefined;
  }
  return {
    operation,
    subpath: `/models/${model}:${method}`,
    methods: ['POST'],
    model: decoded,
    stream: method === 'streamGenerateContent',
    ...(operation === 'gemini_generate' ? { prepare: (_ctx: IngressContext, body: Readonly<Json>) => Promise.resolve(checkGenerateBody(body)) } : {}),
    ...(method === 'countTokens'
      ? {
          answer: async (_ctx: IngressContext, body: Readonly<Json>, rule: RuleConfig) => {
            const backend = rule.backendRefs[0]?.backend;
            if (backend === undefined || speaksGemini(backend.schema.name, method)) return undefined;
            return { status: 200, body: await countLocally(body, rule.backendRefs[0]?.modelNameOverride ?? decoded, backend), headers: { [COUNT_SOURCE_HEADER]: 'gateway' } };
          },
        }
      : {}),
  };
}

const EXACT: ReadonlyMap<string, IngressMatch> = new Map([['/v1/responses', RESPONSES], ...AUDIO_UPLOADS]);
const PATTERNS: ReadonlyArray<(path: string) => IngressMatch | undefined> = [storedResponse, gemini, filesAndBatches];

/** The ingress a path belongs to, when it is one of the APIs this table serves. */
export function matchIngress(path: string): IngressMatch | undefined {
  const exact = EXACT.get(path);
  if (exact !== undefined) return exact;
  for (const p of PATTERNS) {
    const m = p(path);
    if (m !== undefined) return m;
  }
  return undefined;
}
