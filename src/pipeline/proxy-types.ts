// What a proxied request is given and what it reports back: the contract between the handler, the
// limits stage and ProxyRequest.
import type { BackendRefConfig, RuleConfig } from '../config/types.js';
import type { ClientCredentialStrip } from '../credentials/client.js';
import type { ErrorCode } from '../core/errors.js';
import type { Usage } from '../core/usage.js';
import type { QuotaDecision, QuotaTicket } from '../limits/quotas.js';
import type { ClientRequest } from '../providers/types.js';
import type { Generation } from './generation.js';
import type { Req, Res } from './http.js';

export interface ProxyResult {
  readonly status: number;
  readonly errorCode: ErrorCode | undefined;
  readonly clientAborted: boolean;
  /** The response was cut before its end (the client left or was cut off, or the upstream broke off mid-body). */
  readonly aborted: boolean;
  readonly attempts: number;
  readonly backend: BackendRefConfig | undefined;
  readonly requestModel: string | undefined;
  readonly responseModel: string | undefined;
  readonly usage: Usage | undefined;
  readonly completionText: string | undefined;
  readonly completionOverflowChars: number;
  /** The input's `counting.audited`, carried to the outcome. */
  readonly auditSampled: boolean | undefined;
  readonly upstreamMs: number | undefined;
  readonly ttfbMs: number | undefined;
  readonly responseBytes: number;
  /** QuotaPolicy budget held for the backend that served, to settle with the real usage. */
  readonly quotaTicket: QuotaTicket | undefined;
  /** InferencePool backends: the endpoint (host:port) the picker chose for the last attempt. */
  readonly endpoint?: string | undefined;
  /** The picker's decision and scores, when the pool has `tollgate.io/picker-debug: "true"`. */
  readonly endpointPick?: string | undefined;
}

/**
 * Drawn as a request is proxied: whether the drift audit samples it (the gateway counts its tokens
 * even when the backend reports usage), and so whether its response's completion text is kept.
 */
export interface CountingPlan {
  /** Undefined when not drawn up front: accounting draws the sample when the request ends. */
  readonly audited: boolean | undefined;
  /** Keep the text whatever the backend reports: audited, or traces capture content. */
  readonly keepText: boolean;
}

/** QuotaPolicy checks per backend attempt, provided by the limits engine. */
export interface QuotaHook {
  applies(ref: BackendRefConfig): boolean;
  check(ref: BackendRefConfig): Promise<QuotaDecision>;
  release(ticket: QuotaTicket | undefined): void;
}

export interface ProxyInput {
  readonly req: Req;
  readonly res: Res;
  readonly requestId: string;
  readonly startMs: number;
  readonly generation: Generation;
  readonly rule: RuleConfig;
  readonly client: ClientRequest;
  readonly originalModel: string | undefined;
  readonly clientAddress: string | undefined;
  readonly scheme: 'http' | 'https';
  /** The `traceparent` the upstream gets (the gateway's span as parent), when traces are exported. */
  readonly traceparent: string | undefined;
  /** x-ratelimit-* headers from admission, added to a successful response. */
  readonly limitHeaders: Readonly<Record<string, string>>;
  readonly quota: QuotaHook | undefined;
  readonly strip: ClientCredentialStrip;
  /** The listener's write timeout for a client that stops reading (0: none). */
  readonly writeTimeoutMs: number;
  readonly counting: CountingPlan;
  /**
   * onDone runs before the response's last bytes are written (it writes a ledger line or charges a
   * limit the client's next request must see); false: after them, so the answer waits for nothing.
   */
  readonly outcomeFirst: boolean;
  /**
   * With outcomeFirst, the last bytes wait until the ledger line onDone wrote reached the kernel
   * (whenRecorded); without, they and the outcome wait for the end of the pass while other requests
   * are in flight (afterPass).
   */
  readonly recorded: { whenRecorded?(done: () => void): void; afterPass?(done: () => void): void };
  readonly onDone: (result: ProxyResult) => void;
}
