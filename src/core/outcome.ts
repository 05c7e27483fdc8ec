// One record per finished request: the only thing the request path hands to telemetry, accounting,
// the ledger and limits. Built once at the end; never mutated after.
import type { ErrorCode } from './errors.js';
import type { TraceContext } from './trace-context.js';
import type { Usage } from './usage.js';

export type Operation =
  | 'chat'
  | 'completions'
  | 'embeddings'
  | 'moderations'
  | 'images'
  | 'speech'
  /** POST /v1/audio/transcriptions and /v1/audio/translations (multipart uploads). */
  | 'transcriptions'
  | 'translations'
  /** OpenAI /v1/files and /v1/batches (upload, list, retrieve, content, delete; create, retrieve, list, cancel). */
  | 'files'
  | 'batches'
  | 'rerank'
  | 'models'
  | 'messages'
  /** Anthropic POST /v1/messages/count_tokens. */
  | 'count_tokens'
  /** POST /v1/responses (OpenAI Responses API). */
  | 'responses'
  /** GET / DELETE of a stored response and its input items, answered by the gateway. */
  | 'responses_state'
  /** Gemini generateContent and streamGenerateContent. */
  | 'gemini_generate'
  | 'gemini_embed'
  | 'gemini_count_tokens'
  | 'other';

export interface RequestOutcome {
  readonly requestId: string;
  /** Epoch ms when the request arrived. */
  readonly startedAt: number;
  readonly operation: Operation;
  readonly method: string;
  readonly path: string;
  readonly httpVersion: '1.1' | '2' | '1.0';
  /** `x-workload-app` as sent (labels bound it to configured values). */
  readonly workload: string | undefined;
  /** The virtual key the request was authenticated with (its id and team, never the secret). */
  readonly apiKey?: { readonly id: string; readonly team: string | undefined } | undefined;
  readonly routeKey: string | undefined;
  readonly ruleId: string | undefined;
  readonly backendKey: string | undefined;
  /** InferencePool backends: the endpoint (host:port) the endpoint picker chose. */
  readonly endpoint?: string | undefined;
  readonly endpointPick?: string | undefined;
  readonly provider: string | undefined;
  /** Model the client asked for (body `model`). */
  readonly originalModel: string | undefined;
  /** Model sent to the backend (after modelNameOverride). */
  readonly requestModel: string | undefined;
  /** Model the backend says answered. */
  readonly responseModel: string | undefined;
  readonly stream: boolean;
  readonly status: number;
  /** Set when the gateway produced or cut the response for a reason in the error catalog. */
  readonly errorCode: ErrorCode | undefined;
  /** The client went away before the response was complete. */
  readonly clientAborted: boolean;
  /** The response was cut before its end: the client left or was cut off, or the upstream broke off mid-body. */
  readonly aborted: boolean;
  readonly attempts: number;
  /** Backend-reported usage, when the response carried it. */
  readonly usage: Usage | undefined;
  /** The parsed request body (for the gateway's own prompt token count); undefined when none was read. */
  readonly requestBody: Readonly<Record<string, unknown>> | undefined;
  /** Generated text the client received (for the gateway's own completion token count). */
  readonly completionText: string | undefined;
  /** Generated characters past what completionText kept (a long response), counted at ≈4 per token. */
  readonly completionOverflowChars: number;
  /**
   * Whether the drift audit sampled the request, drawn as it started (its response's text was kept
   * for the count); undefined when no sample was drawn up front and accounting draws it at the end.
   */
  readonly auditSampled: boolean | undefined;
  /** Milliseconds from arrival to the end of the response. */
  readonly durationMs: number;
  /** Milliseconds from the upstream request being sent to its last byte (last attempt). */
  readonly upstreamMs: number | undefined;
  /** Milliseconds from arrival to the first response body byte sent to the client. */
  readonly ttfbMs: number | undefined;
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Snapshot generation that served the request. */
  readonly generation: number;
  /** The request's trace context, when traces are exported. */
  readonly trace: TraceContext | undefined;
  /**
   * Charges the request's one usage to its rate limits and quotas: called once by accounting, with
   * the usage the ledger records (the backend's report, else the gateway's count of what passed).
   */
  readonly settleUsage: ((usage: Usage) => void) | undefined;
}
