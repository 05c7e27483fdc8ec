// Which upstream attempt runs next, for one proxied request. Each attempt goes to a backend chosen by
// priority and weight (routing/candidates; QuotaPolicy budgets checked by quota-gate.ts) and an
// endpoint chosen round-robin (upstream/pools) or by an InferencePool's picker. A failure before
// anything was sent to the client (connect error, reset, timeout, retriable status) moves to the
// next attempt, backing off when it stays on the same priority level. It is separate from
// ProxyRequest because none of this depends on what the client has been sent: ProxyRequest relays a
// response and decides how the request ends, this file only decides where the next attempt goes and
// whether a failed one may be retried.
import type { BackendRefConfig } from '../config/types.js';
import { nowMs } from '../core/clock.js';
import { GatewayError, toGatewayError } from '../core/errors.js';
import { credentialUnavailable, prepareCredential } from '../credentials/inject.js';
import { providerFor } from '../providers/index.js';
import type { Provider, UpstreamRequest } from '../providers/types.js';
import { chooseRef, levelForAttempt, type RulePlan } from '../routing/candidates.js';
import type { UpstreamFailure } from '../upstream/errors.js';
import type { PoolPicker } from '../upstream/pool/picker.js';
import { pickEndpoint, recordConnectFailure, recordSuccess, type EndpointHandle } from '../upstream/pools.js';
import { AttemptHandler, RetryAbort, type AttemptOwner } from './attempt.js';
import { dispatchOptions } from './dispatch.js';
import type { ProxyInput } from './proxy-types.js';
import { QuotaGate, type QuotaGateOwner } from './quota-gate.js';
import { backoffDelay, failureError, isRetriable } from './retry.js';

/** What the driver needs from the request it serves. */
export interface DriverOwner extends AttemptOwner {
  /** The request has ended: nothing more is dispatched. */
  isFinished(): boolean;
  /** No attempt is left (or none can be made): the client gets this error. */
  fail(err: GatewayError): void;
}

export class AttemptDriver implements QuotaGateOwner {
  private readonly plan: RulePlan;
  /** Epoch ms past which no attempt starts; +Infinity when the rule sets no request timeout. */
  readonly deadlineAt: number;
  private attempt = 0;
  private currentAttempt: AttemptHandler | undefined;
  private readonly triedRefs = new Set<BackendRefConfig>();
  private readonly triedEndpoints = new Set<EndpointHandle>();
  private lastFailure: GatewayError | undefined;
  private refInUse: BackendRefConfig | undefined;
  private providerInUse: Provider | undefined;
  private upstreamReqInUse: UpstreamRequest | undefined;
  readonly quota: QuotaGate;
  private dispatchedAt = 0;
  /** Time spent in upstream attempts that ended, plus the open one once it is closed. */
  private upstreamMsTotal = 0;
  private attemptOpen = false;
  /** InferencePool backends: the endpoint the picker chose, and its decision when the pool debugs. */
  private picker: PoolPicker | undefined;
  private pickedId: string | undefined;
  private pickDebugText: string | undefined;
  /** The latest pick's estimated prefill, pending at its endpoint until the first response byte. */
  private pendingPrefill = 0;
  private prefillAt: EndpointHandle | undefined;

  constructor(
    private readonly input: ProxyInput,
    private readonly owner: DriverOwner,
  ) {
    this.plan = input.generation.plans.get(input.rule) as RulePlan;
    // timeouts.request: 0s means no deadline (Gateway API).
    const ms = input.rule.timeouts.requestMs;
    this.deadlineAt = ms > 0 ? input.startMs + ms : Number.POSITIVE_INFINITY;
    this.quota = new QuotaGate(input.quota, this.plan, this);
  }

  /** The attempt whose events count; events of any other (abandoned) attempt are ignored. */
  get current(): AttemptHandler | undefined {
    return this.currentAttempt;
  }

  /** Attempts dispatched so far. */
  get attempts(): number {
    return this.attempt;
  }

  get ref(): BackendRefConfig | undefined {
    return this.refInUse;
  }

  get provider(): Provider | undefined {
    return this.providerInUse;
  }

  get upstreamReq(): UpstreamRequest | undefined {
    return this.upstreamReqInUse;
  }

  get picked(): string | undefined {
    return this.pickedId;
  }

  get pickDebug(): string | undefined {
    return this.pickDebugText;
  }

  /** Upstream time of the attempts closed so far. */
  get upstreamMs(): number {
    return this.upstreamMsTotal;
  }

  /** Upstream time including the open attempt, at `now`. */
  upstreamMsAt(now: number): number {
    return this.attemptOpen ? this.upstreamMsTotal + (now - this.dispatchedAt) : this.upstreamMsTotal;
  }

  next(): void {
    if (this.owner.isFinished()) return;
    const level = levelForAttempt(this.plan, this.attempt);
    if (level === undefined || this.attempt >= this.plan.maxAttempts || nowMs() >= this.deadlineAt) {
      this.owner.fail(this.lastFailure ?? new GatewayError('upstream_unavailable', `Rule "${this.input.rule.id}" has no backend with a weight above 0.`));
      return;
    }
    this.quota.gate(chooseRef(level, this.triedRefs), level);
  }

  /**
   * The current attempt's response head arrived. Returns false when its status is retriable and a
   * retry is left: the attempt is then abandoned and the next one scheduled.
   */
  responseStarted(h: AttemptHandler, status: number): boolean {
    recordSuccess(h.endpoint);
    this.picker?.reportSuccess(h.endpoint);
    const retry = this.input.rule.retry;
    if (!retry.retriableStatuses.has(status) || !this.canRetry()) return true;
    this.lastFailure = new GatewayError('upstream_status', `The backend "${this.refInUse?.backend.name ?? ''}" answered HTTP ${status}.`, {
      status: status === 503 || status === 504 ? status : 502,
    });
    this.closeAttempt();
    h.controller?.abort(new RetryAbort());
    this.scheduleRetry();
    return false;
  }

  /** The current attempt failed before its response started: retry when the policy allows, else fail. */
  attemptFailed(h: AttemptHandler, failure: UpstreamFailure): void {
    this.closeAttempt();
    if (failure.kind === 'connect' || failure.kind === 'tls') {
      recordConnectFailure(h.endpoint, nowMs());
      this.picker?.reportFailure(h.endpoint, nowMs());
    }
    this.lastFailure = failureError(failure, this.refInUse?.backend.name ?? '');
    if (isRetriable(this.input.rule.retry, failure) && this.canRetry()) this.scheduleRetry();
    else this.owner.fail(this.lastFailure);
  }

  // ---- what the quota gate reports -------------------------------------------------------------

  isFinished(): boolean {
    return this.owner.isFinished();
  }

  blocked(err: GatewayError): void {
    this.lastFailure = err;
  }

  fail(err: GatewayError): void {
    this.owner.fail(err);
  }

  /**
   * The open attempt's first response byte arrived (or the attempt ended): the picker stops counting
   * its prefill as pending. For a stream that byte follows the first token; a response that is not
   * streamed arrives whole, so its prefill counts until the whole answer is in (idempotent).
   */
  firstByte(): void {
    if (this.prefillAt === undefined) return;
    this.picker?.prefillDone(this.prefillAt, this.pendingPrefill);
    this.prefillAt = undefined;
  }

  /** Ends the open attempt's upstream time and its endpoint's in-flight count (idempotent). */
  closeAttempt(): void {
    this.firstByte();
    if (!this.attemptOpen) return;
    this.attemptOpen = false;
    if (this.currentAttempt !== undefined) this.currentAttempt.endpoint.inflight--;
    this.upstreamMsTotal += nowMs() - this.dispatchedAt;
  }

  /** The backend may be tried now (its quota, if any, admitted it). */
  dispatch(ref: BackendRefConfig): void {
    if (this.owner.isFinished()) return;
    // Expiring credentials come from a background-refreshed cache; only a first use waits here.
    const prep = prepareCredential(ref.backend.credential, this.input.req.headers);
    if (prep instanceof GatewayError) return this.owner.fail(prep);
    if (prep !== undefined) {
      prep.then(
        () => this.dispatchNow(ref),
        (err: unknown) => {
          if (this.owner.isFinished()) return;
          this.triedRefs.add(ref);
          this.attempt++;
          this.lastFailure = credentialUnavailable(err, ref.backend.name);
          if (this.canRetry()) this.scheduleRetry();
          else this.owner.fail(this.lastFailure);
        },
      );
      return;
    }
    this.dispatchNow(ref);
  }

  private dispatchNow(ref: BackendRefConfig): void {
    if (this.owner.isFinished()) return;
    const upstream = this.input.generation.upstreams.get(ref.backend.key);
    const provider = providerFor(ref.backend.schema.name);
    if (upstream === undefined || provider === undefined) {
      this.owner.fail(new GatewayError('internal_error', `Backend "${ref.backend.key}" is not ready in this config generation.`));
      return;
    }
    let endpoint: EndpointHandle | undefined;
    const picker = upstream.picker;
    this.picker = picker;
    if (picker === undefined) endpoint = pickEndpoint(upstream, this.triedEndpoints, nowMs());
    else {
      endpoint = picker.pick(this.input.req, this.input.client.raw, this.triedEndpoints, nowMs());
      if (endpoint === undefined) {
        this.owner.fail(new GatewayError('upstream_unavailable', `InferencePool "${ref.backend.name}" has no endpoints; list them in its tollgate.io/endpoints annotation.`, { status: 503 }));
        return;
      }
      this.pickedId = picker.lastReplica?.id;
      this.pendingPrefill = picker.lastPrefillTokens;
      this.prefillAt = endpoint;
      if (picker.config.debugHeader) this.pickDebugText = picker.describeLast();
    }
    this.triedRefs.add(ref);
    this.triedEndpoints.add(endpoint);
    if (this.refInUse !== ref) {
      try {
        this.upstreamReqInUse = provider.translateRequest(this.input.client, ref);
      } catch (err) {
        // A request this backend's API cannot express: the client's mistake, said in its terms.
        return this.owner.fail(toGatewayError(err));
      }
      this.refInUse = ref;
      this.providerInUse = provider;
    }
    const options = dispatchOptions(this.input, ref, endpoint, this.upstreamReqInUse as UpstreamRequest);
    this.attempt++;
    const handler = new AttemptHandler(this.owner, endpoint);
    this.currentAttempt = handler;
    this.dispatchedAt = nowMs();
    this.attemptOpen = true;
    endpoint.inflight++;
    endpoint.pool.dispatch(options, handler);
  }

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
        setTimeout(() => this.next(), delay);
        return;
      }
    }
    this.next();
  }
}
