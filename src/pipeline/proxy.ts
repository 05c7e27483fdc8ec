// One proxied request, from the first upstream attempt to the last byte to the client.
//
// Attempts: each goes to a backend chosen by priority and weight (routing/candidates) and an
// endpoint chosen round-robin (upstream/pools). A failure before anything was sent to the client
// (connect error, reset, timeout, retriable status) moves to the next attempt; after the first
// byte, a stream gets an SSE error event and a clean end, anything else is cut.
//
// Streaming: upstream chunks go to the client as they arrive (no buffering, no per-chunk timers);
// when the client cannot keep up the upstream is paused (so what the gateway holds per stream is the
// socket's buffer plus one upstream chunk), and when the client leaves the upstream request is
// aborted at once so the backend stops generating. A client whose buffer stays full for the
// listener's write timeout is cut off the same way. The byte moving itself is in relay.ts, the
// success head in response-head.ts and the error-body reading in error-body.ts; this file is the
// driver that decides which attempt runs and how the request ends; QuotaPolicy budgets per
// candidate are checked by quota-gate.ts.
import type { BackendRefConfig } from '../config/types.js';
import { nowMs } from '../core/clock.js';
import { GatewayError, toGatewayError, type ErrorCode } from '../core/errors.js';
import { providerFor } from '../providers/index.js';
import { UpstreamBodyError, type Provider, type UpstreamRequest } from '../providers/types.js';
import { chooseRef, levelForAttempt, type RulePlan } from '../routing/candidates.js';
import { classifyUpstreamError } from '../upstream/errors.js';
import type { PoolPicker } from '../upstream/pool/picker.js';
import { pickEndpoint, recordConnectFailure, recordSuccess, type EndpointHandle } from '../upstream/pools.js';
import { AttemptHandler, ClientAbort, DeadlineAbort, RetryAbort, type AttemptOwner } from './attempt.js';
import { credentialSecrets, credentialUnavailable, prepareCredential } from '../credentials/inject.js';
import { StreamRedactor } from '../credentials/redact-stream.js';
import { dispatchOptions } from './dispatch.js';
import { UpstreamErrorBody } from './error-body.js';
import type { ProxyInput } from './proxy-types.js';
import { QuotaGate } from './quota-gate.js';
import { ResponseRelay } from './relay.js';
import { headerValue, relayHead } from './response-head.js';
import { backoffDelay, deadlineError, failureError, isRetriable, midStreamErrorEvent } from './retry.js';
import { errorShapeOf } from '../ingress/errors.js';
import { sendError, serverTiming } from './respond.js';

type Mode = 'waiting' | 'relay' | 'error-body' | 'discard';

export class ProxyRequest implements AttemptOwner {
  private readonly plan: RulePlan;
  private readonly deadlineAt: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private current: AttemptHandler | undefined;
  private readonly triedRefs = new Set<BackendRefConfig>();
  private readonly triedEndpoints = new Set<EndpointHandle>();
  private lastFailure: GatewayError | undefined;
  private mode: Mode = 'waiting';
  private readonly relay: ResponseRelay;
  private errorBody: UpstreamErrorBody | undefined;
  private ref: BackendRefConfig | undefined;
  private provider: Provider | undefined;
  private upstreamReq: UpstreamRequest | undefined;
  private readonly quota: QuotaGate;
  private dispatchedAt = 0;
  /** Time spent in upstream attempts that ended, plus the open one when the request finishes. */
  private upstreamMs = 0;
  private attemptOpen = false;
  private status = 0;
  private finished = false;
  private clientGone = false;
  /** InferencePool backends: the endpoint the picker chose, and its decision when the pool debugs. */
  private picker: PoolPicker | undefined;
  private picked: string | undefined;
  private pickDebug: string | undefined;

  constructor(private readonly input: ProxyInput) {
    this.plan = input.generation.plans.get(input.rule) as RulePlan;
    // timeouts.request: 0s means no deadline (Gateway API).
    const ms = input.rule.timeouts.requestMs;
    this.deadlineAt = ms > 0 ? input.startMs + ms : Number.POSITIVE_INFINITY;
    this.quota = new QuotaGate(input.quota, this.plan, {
      isFinished: () => this.finished,
      dispatch: (ref) => this.dispatch(ref),
      blocked: (err) => {
        this.lastFailure = err;
      },
      fail: (err) => this.fail(err),
    });
    this.relay = new ResponseRelay(input.res, input.startMs, input.writeTimeoutMs, () => this.onWriteTimeout());
  }

  start(): void {
    const { res } = this.input;
    res.on('close', () => {
      this.relay.clearWriteTimer();
      if (!this.finished && !res.writableFinished) this.onClientGone();
    });
    res.on('finish', () => this.relay.clearWriteTimer());
    res.on('drain', () => {
      this.relay.clearWriteTimer();
      this.current?.controller?.resume();
    });
    if (Number.isFinite(this.deadlineAt)) this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(1, this.deadlineAt - nowMs()));
    this.nextAttempt();
  }

  private nextAttempt(): void {
    if (this.finished) return;
    const level = levelForAttempt(this.plan, this.attempt);
    if (level === undefined || this.attempt >= this.plan.maxAttempts || nowMs() >= this.deadlineAt) {
      this.fail(this.lastFailure ?? new GatewayError('upstream_unavailable', `Rule "${this.input.rule.id}" has no backend with a weight above 0.`));
      return;
    }
    this.quota.gate(chooseRef(level, this.triedRefs), level);
  }

  private dispatch(ref: BackendRefConfig): void {
    if (this.finished) return;
    // Expiring credentials come from a background-refreshed cache; only a first use waits here.
    const prep = prepareCredential(ref.backend.credential, this.input.req.headers);
    if (prep instanceof GatewayError) return this.fail(prep);
    if (prep !== undefined) {
      prep.then(
        () => this.dispatchNow(ref),
        (err: unknown) => {
          if (this.finished) return;
          this.triedRefs.add(ref);
          this.attempt++;
          this.lastFailure = credentialUnavailable(err, ref.backend.name);
          if (this.canRetry()) this.scheduleRetry();
          else this.fail(this.lastFailure);
        },
      );
      return;
    }
    this.dispatchNow(ref);
  }

  private dispatchNow(ref: BackendRefConfig): void {
    if (this.finished) return;
    const upstream = this.input.generation.upstreams.get(ref.backend.key);
    const provider = providerFor(ref.backend.schema.name);
    if (upstream === undefined || provider === undefined) {
      this.fail(new GatewayError('internal_error', `Backend "${ref.backend.key}" is not ready in this config generation.`));
      return;
    }
    let endpoint: EndpointHandle | undefined;
    const picker = upstream.picker;
    this.picker = picker;
    if (picker === undefined) endpoint = pickEndpoint(upstream, this.triedEndpoints, nowMs());
    else {
      endpoint = picker.pick(this.input.req, this.input.client.raw, this.triedEndpoints, nowMs());
      if (endpoint === undefined) {
        this.fail(new GatewayError('upstream_unavailable', `InferencePool "${ref.backend.name}" has no endpoints; list them in its tollgate.io/endpoints annotation.`, { status: 503 }));
        return;
      }
      this.picked = picker.lastReplica?.id;
      if (picker.config.debugHeader) this.pickDebug = picker.describeLast();
    }
    this.triedRefs.add(ref);
    this.triedEndpoints.add(endpoint);
    if (this.ref !== ref) {
      try {
        this.upstreamReq = provider.translateRequest(this.input.client, ref);
      } catch (err) {
        // A request this backend's API cannot express: the client's mistake, said in its terms.
        return this.fail(toGatewayError(err));
      }
      this.ref = ref;
      this.provider = provider;
    }
    const options = dispatchOptions(this.input, ref, endpoint, this.upstreamReq as UpstreamRequest);
    this.attempt++;
    this.mode = 'waiting';
    const handler = new AttemptHandler(this, endpoint);
    this.current = handler;
    this.dispatchedAt = nowMs();
    this.attemptOpen = true;
    endpoint.inflight++;
    endpoint.pool.dispatch(options, handler);
  }

  // ---- callbacks from the current attempt -------------------------------------------------------

  onResponseStart(h: AttemptHandler, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (h !== this.current || this.finished) return;
    const now = nowMs();
    const upstreamSoFar = this.upstreamMs + (now - this.dispatchedAt);
    recordSuccess(h.endpoint);
    this.picker?.reportSuccess(h.endpoint);
    const retry = this.input.rule.retry;
    if (retry.retriableStatuses.has(status) && this.canRetry()) {
      this.lastFailure = new GatewayError('upstream_status', `The backend "${this.ref?.backend.name ?? ''}" answered HTTP ${status}.`, {
        status: status === 503 || status === 504 ? status : 502,
      });
      this.mode = 'discard';
      this.closeAttempt();
      h.controller?.abort(new RetryAbort());
      this.scheduleRetry();
      return;
    }
    const contentType = headerValue(headers['content-type']);
    if (status < 200 || status >= 300) {
      this.mode = 'error-body';
      this.errorBody = new UpstreamErrorBody(status, contentType);
      return;
    }
    this.mode = 'relay';
    this.status = status;
    const forcedUsage = this.upstreamReq?.forcedStreamUsage ?? false;
    const translator = (this.provider as Provider).responseTranslator(this.input.client, contentType, forcedUsage);
    const secrets = credentialSecrets(this.ref?.backend.credential, this.input.req.headers);
    const redactor = secrets.length === 0 ? undefined : new StreamRedactor(secrets);
    const out = relayHead({
      input: this.input,
      upstream: headers,
      translator,
      forcedUsage,
      quotaHeaders: this.quota.headers,
      pickDebug: this.pickDebug,
      ref: this.ref,
      nowMs: now,
      upstreamMs: upstreamSoFar,
    });
    this.relay.begin(status, out, translator, redactor);
  }

  onResponseData(h: AttemptHandler, chunk: Buffer): void {
    if (h !== this.current || this.finished) return;
    switch (this.mode) {
      case 'relay':
        try {
          this.relay.push(chunk, () => h.controller?.pause());
        } catch (err) {
          if (!(err instanceof UpstreamBodyError)) throw err;
          h.controller?.abort(new RetryAbort());
          this.brokenBody(err);
        }
        return;
      case 'error-body':
        this.errorBody?.push(chunk);
        return;
      case 'discard':
      case 'waiting':
        return;
    }
  }

  onResponseEnd(h: AttemptHandler): void {
    if (h !== this.current || this.finished) return;
    switch (this.mode) {
      case 'relay': {
        let tail: Buffer | null;
        try {
          tail = this.relay.endBody();
        } catch (err) {
          if (!(err instanceof UpstreamBodyError)) throw err;
          this.brokenBody(err);
          return;
        }
        // The outcome (and its ledger line, written synchronously) is recorded before the last bytes
        // go out: a response a client received in full is then in the ledger even if the process is
        // killed in the next instant.
        this.finish(undefined);
        this.relay.close(tail);
        return;
      }
      case 'error-body':
        this.fail((this.errorBody as UpstreamErrorBody).toError(this.provider as Provider, this.ref, this.input.req.headers));
        return;
      case 'discard':
      case 'waiting':
        return;
    }
  }

  onResponseError(h: AttemptHandler, err: Error): void {
    if (h !== this.current || this.finished || err instanceof RetryAbort) return;
    if (err instanceof ClientAbort) return;
    // The client's upload failed on its way through (past the body limit, or cut off).
    if (err instanceof GatewayError && this.mode !== 'relay') return this.fail(err);
    const failure = err instanceof DeadlineAbort ? undefined : classifyUpstreamError(err);
    if (this.mode === 'relay') {
      this.midStreamFailure(failure?.code ?? 'request_timeout', failure?.detail ?? 'the request deadline passed');
      return;
    }
    if (failure === undefined) {
      this.fail(deadlineError(this.input.rule));
      return;
    }
    this.closeAttempt();
    if (failure.kind === 'connect' || failure.kind === 'tls') {
      recordConnectFailure(h.endpoint, nowMs());
      this.picker?.reportFailure(h.endpoint, nowMs());
    }
    this.lastFailure = failureError(failure, this.ref?.backend.name ?? '');
    if (isRetriable(this.input.rule.retry, failure) && this.canRetry()) this.scheduleRetry();
    else this.fail(this.lastFailure);
  }

  // ---- client side ----------------------------------------------------------------------------

  /** The client's buffer stayed full for the write timeout: cut it off (the relay then destroys the socket) and stop the upstream. */
  private onWriteTimeout(): void {
    if (!this.finished) {
      this.clientGone = true;
      this.current?.controller?.abort(new ClientAbort());
      this.finish('client_write_timeout');
    }
  }

  private onClientGone(): void {
    this.clientGone = true;
    this.current?.controller?.abort(new ClientAbort());
    this.finish(undefined);
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.finished) return;
    const c = this.current?.controller;
    if (this.mode === 'relay') {
      c?.abort(new DeadlineAbort());
      this.midStreamFailure('request_timeout', `the request exceeded its ${Math.round(this.input.rule.timeouts.requestMs / 1000)} s timeout`);
    } else {
      c?.abort(new DeadlineAbort());
      this.fail(deadlineError(this.input.rule));
    }
  }

  /** The upstream's 2xx body was malformed or cut short: a 502 if nothing went out yet, else an error end. */
  private brokenBody(err: UpstreamBodyError): void {
    if (this.relay.discardUnsent()) {
      this.fail(new GatewayError('upstream_protocol_error', `The backend "${this.ref?.backend.name ?? ''}" returned a broken response: ${err.detail}.`));
      return;
    }
    this.midStreamFailure('upstream_protocol_error', err.detail);
  }

  private midStreamFailure(code: ErrorCode, detail: string): void {
    const { res } = this.input;
    const sse = this.input.client.stream;
    if (sse && !res.writableEnded) {
      res.end(this.relay.translator?.errorEvent?.(code, detail) ?? midStreamErrorEvent(code, detail));
    } else {
      res.destroy();
    }
    this.finish(code);
  }

  private fail(err: GatewayError): void {
    if (this.finished) return;
    this.closeAttempt();
    this.status = err.status;
    if (!this.clientGone) {
      sendError(
        this.input.res,
        err,
        this.input.requestId,
        this.input.startMs,
        { 'server-timing': serverTiming(nowMs() - this.input.startMs - this.upstreamMs, this.upstreamMs) },
        errorShapeOf(this.input.client.operation),
      );
    }
    this.finish(err.code);
  }

  private finish(errorCode: ErrorCode | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.closeAttempt();
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    const result = this.relay.translator?.result();
    const ttfbMs = this.relay.ttfbMs;
    this.input.onDone({
      status: this.clientGone && this.status === 0 ? 499 : this.status,
      errorCode,
      clientAborted: this.clientGone,
      aborted: this.clientGone || (errorCode !== undefined && ttfbMs !== undefined),
      attempts: this.attempt,
      backend: this.ref,
      requestModel: this.upstreamReq?.model,
      responseModel: result?.responseModel,
      usage: result?.usage,
      completionText: result?.completionText,
      completionOverflowChars: result?.completionOverflowChars ?? 0,
      upstreamMs: this.attempt > 0 ? this.upstreamMs : undefined,
      ttfbMs,
      responseBytes: this.relay.responseBytes,
      quotaTicket: this.quota.ticketFor(this.ref),
      endpoint: this.picked,
      endpointPick: this.pickDebug,
    });
    this.quota.releaseUnless(this.ref);
  }

  private closeAttempt(): void {
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    if (this.current !== undefined) this.current.endpoint.inflight--;
    this.upstreamMs += nowMs() - this.dispatchedAt;
  }

  // ---- retry policy ---------------------------------------------------------------------------

  private canRetry(): boolean {
    // An upload whose tail already went to a backend cannot be sent again.
    return this.attempt < this.plan.maxAttempts && nowMs() < this.deadlineAt && this.input.client.upload?.sent !== true;
  }

  private scheduleRetry(): void {
    // Failing over to another priority level is immediate; retrying the same level backs off
    // (jittered exponential, Envoy's default shape) so a struggling backend is not hammered.
    const prev = levelForAttempt(this.plan, this.attempt - 1);
    const next = levelForAttempt(this.plan, this.attempt);
    if (prev === next) {
      const delay = Math.min(backoffDelay(this.input.rule.retry, this.attempt), this.deadlineAt - nowMs());
      if (delay > 1) {
        setTimeout(() => this.nextAttempt(), delay);
        return;
      }
    }
    this.nextAttempt();
  }
}
