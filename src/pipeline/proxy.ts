// One proxied request, from the first upstream attempt to the last byte to the client.
//
// Which attempt runs next, and whether a failed one is retried, is attempt-driver.ts's: this file
// takes the response of the attempt the driver settles on. A failure before anything was sent to the
// client moves to the next attempt; after the first byte, a stream gets an SSE error event and a
// clean end, anything else is cut.
//
// Streaming: upstream chunks go to the client as they arrive (no buffering, no per-chunk timers);
// when the client cannot keep up the upstream is paused (so what the gateway holds per stream is the
// socket's buffer plus one upstream chunk), and when the client leaves the upstream request is
// aborted at once so the backend stops generating. A client whose buffer stays full for the
// listener's write timeout is cut off the same way. The byte moving itself is in relay.ts, the
// success head in response-head.ts and the error-body reading in error-body.ts; this file decides
// which mode a response is relayed in and how the request ends.
import { nowMs } from '../core/clock.js';
import { GatewayError, type ErrorCode } from '../core/errors.js';
import { UpstreamBodyError, type Provider } from '../providers/types.js';
import { classifyUpstreamError } from '../upstream/errors.js';
import { AttemptDriver, type DriverOwner } from './attempt-driver.js';
import { ClientAbort, DeadlineAbort, RetryAbort, type AttemptHandler } from './attempt.js';
import { responseSecrets } from '../credentials/inject.js';
import { StreamRedactor } from '../credentials/redact-stream.js';
import { UpstreamErrorBody } from './error-body.js';
import type { ProxyInput } from './proxy-types.js';
import { ResponseRelay } from './relay.js';
import { headerValue, relayHead } from './response-head.js';
import { deadlineError, midStreamErrorEvent } from './retry.js';
import { errorShapeOf } from '../ingress/errors.js';
import { sendError, serverTiming } from './respond.js';

/** Until a response starts, an attempt's events only matter to the driver. */
type Mode = 'waiting' | 'relay' | 'error-body';

export class ProxyRequest implements DriverOwner {
  private readonly driver: AttemptDriver;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private mode: Mode = 'waiting';
  private readonly relay: ResponseRelay;
  private errorBody: UpstreamErrorBody | undefined;
  private status = 0;
  private finished = false;
  private clientGone = false;

  constructor(private readonly input: ProxyInput) {
    this.driver = new AttemptDriver(input, this);
    this.relay = new ResponseRelay(
      input.res,
      input.startMs,
      input.writeTimeoutMs,
      () => this.driver.current?.controller?.resume(),
      () => this.onWriteTimeout(),
    );
  }

  start(): void {
    const { res } = this.input;
    // One listener per response: 'close' follows 'finish' (the write timer is cleared either way),
    // and the relay listens for 'drain' only once a write has found the client's buffer full.
    res.on('close', () => {
      this.relay.clearWriteTimer();
      if (!this.finished && !res.writableFinished) this.onClientGone();
    });
    const deadlineAt = this.driver.deadlineAt;
    // A whole number of ms: Node keeps one list of timers per distinct delay, so the requests of a rule
    // (started within a ms of arrival) share one list, appended to, instead of each inserting its own.
    if (Number.isFinite(deadlineAt)) this.deadlineTimer = setTimeout(() => this.onDeadline(), Math.max(1, Math.ceil(deadlineAt - nowMs())));
    this.driver.next();
  }

  isFinished(): boolean {
    return this.finished;
  }

  // ---- callbacks from the current attempt -------------------------------------------------------

  onResponseStart(h: AttemptHandler, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (h !== this.driver.current || this.finished) return;
    const now = nowMs();
    const upstreamSoFar = this.driver.upstreamMsAt(now);
    if (!this.driver.responseStarted(h, status)) return;
    const contentType = headerValue(headers['content-type']);
    if (status < 200 || status >= 300) {
      this.mode = 'error-body';
      this.errorBody = new UpstreamErrorBody(status, contentType);
      return;
    }
    this.mode = 'relay';
    this.status = status;
    const { ref, upstreamReq } = this.driver;
    const forcedUsage = upstreamReq?.forcedStreamUsage ?? false;
    const translator = (this.driver.provider as Provider).responseTranslator(this.input.client, contentType, { suppressUsageChunk: forcedUsage, keepText: this.input.counting.keepText });
    const secrets = responseSecrets(ref?.backend.credential, this.input.req.headers);
    const redactor = secrets === undefined ? undefined : new StreamRedactor(secrets);
    const out = relayHead({
      input: this.input,
      upstream: headers,
      translator,
      forcedUsage,
      quotaHeaders: this.driver.quota.headers,
      pickDebug: this.driver.pickDebug,
      ref,
      nowMs: now,
      upstreamMs: upstreamSoFar,
    });
    this.relay.begin(status, out, translator, redactor);
  }

  onResponseData(h: AttemptHandler, chunk: Buffer): void {
    if (h !== this.driver.current || this.finished) return;
    this.driver.firstByte();
    switch (this.mode) {
      case 'relay':
        try {
          if (!this.relay.push(chunk)) h.controller?.pause();
        } catch (err) {
          if (!(err instanceof UpstreamBodyError)) throw err;
          h.controller?.abort(new RetryAbort());
          this.brokenBody(err);
        }
        return;
      case 'error-body':
        this.errorBody?.push(chunk);
        return;
      case 'waiting':
        return;
    }
  }

  onResponseEnd(h: AttemptHandler): void {
    if (h !== this.driver.current || this.finished) return;
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
        // With a ledger or a charge, the outcome is handed over before the last bytes go out: the
        // limits are charged at once (with workers, the charge is on its way to the primary) before
        // the client can send its next request, and the last bytes wait for the ledger line's write
        // (the lines of the requests that finish in this pass over the ready I/O are written together,
        // right after it), so a response a client received in full is in the ledger even if the
        // process is killed in the next instant; the rest (metrics, listeners, sinks) runs after
        // those bytes left (Telemetry.requestFinished). Without either, the bytes go first and the
        // outcome follows them; under load, both wait for the end of this pass over the ready I/O,
        // with the other responses that end in it (afterPass): the clients' answers then go out
        // together, after everything ready was read, which costs far less per request than
        // answering each as its upstream's last bytes arrive.
        const sink = this.input.recorded;
        if (this.input.outcomeFirst) {
          this.finish(undefined);
          if (sink.whenRecorded === undefined) this.relay.close(tail);
          else {
            this.relay.hold();
            sink.whenRecorded(() => this.relay.close(tail));
          }
        } else if (sink.afterPass === undefined) {
          this.relay.close(tail);
          this.finish(undefined);
        } else {
          this.relay.hold();
          sink.afterPass(() => {
            this.relay.close(tail);
            this.finish(undefined);
          });
        }
        return;
      }
      case 'error-body':
        this.fail((this.errorBody as UpstreamErrorBody).toError(this.driver.provider as Provider, this.driver.ref, this.input.req.headers));
        return;
      case 'waiting':
        return;
    }
  }

  onResponseError(h: AttemptHandler, err: Error): void {
    if (h !== this.driver.current || this.finished || err instanceof RetryAbort) return;
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
    this.driver.attemptFailed(h, failure);
  }

  // ---- client side ----------------------------------------------------------------------------

  /** The client's buffer stayed full for the write timeout: cut it off (the relay then destroys the socket) and stop the upstream. */
  private onWriteTimeout(): void {
    if (!this.finished) {
      this.clientGone = true;
      this.driver.current?.controller?.abort(new ClientAbort());
      this.finish('client_write_timeout');
    }
  }

  private onClientGone(): void {
    this.clientGone = true;
    this.driver.current?.controller?.abort(new ClientAbort());
    this.finish(undefined);
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    if (this.finished) return;
    const c = this.driver.current?.controller;
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
      this.fail(new GatewayError('upstream_protocol_error', `The backend "${this.driver.ref?.backend.name ?? ''}" returned a broken response: ${err.detail}.`));
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

  fail(err: GatewayError): void {
    if (this.finished) return;
    this.driver.closeAttempt();
    this.status = err.status;
    if (!this.clientGone) {
      const upstreamMs = this.driver.upstreamMs;
      sendError(
        this.input.res,
        err,
        this.input.requestId,
        this.input.startMs,
        { 'server-timing': serverTiming(nowMs() - this.input.startMs - upstreamMs, upstreamMs) },
        errorShapeOf(this.input.client.operation),
      );
    }
    this.finish(err.code);
  }

  private finish(errorCode: ErrorCode | undefined): void {
    if (this.finished) return;
    this.finished = true;
    const d = this.driver;
    d.closeAttempt();
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    const result = this.relay.translator?.result();
    const ttfbMs = this.relay.ttfbMs;
    this.input.onDone({
      status: this.clientGone && this.status === 0 ? 499 : this.status,
      errorCode,
      clientAborted: this.clientGone,
      aborted: this.clientGone || (errorCode !== undefined && ttfbMs !== undefined),
      attempts: d.attempts,
      backend: d.ref,
      requestModel: d.upstreamReq?.model,
      responseModel: result?.responseModel,
      usage: result?.usage,
      completionText: result?.completionText,
      completionOverflowChars: result?.completionOverflowChars ?? 0,
      auditSampled: this.input.counting.audited,
      upstreamMs: d.attempts > 0 ? d.upstreamMs : undefined,
      ttfbMs,
      responseBytes: this.relay.responseBytes,
      quotaTicket: d.quota.ticketFor(d.ref),
      endpoint: d.picked,
      endpointPick: d.pickDebug,
    });
    d.quota.releaseUnless(d.ref);
  }
}
