// Chat and text completions: one HTTP request becomes one engine sequence per choice; the engine's
// step loop calls back at each step boundary, and the response writes one chunk per token per
// choice, in OpenAI's exact wire shapes (streamed SSE or one JSON body). Faults hook in here.
// Turning the request into sequences (and their usage) is in choices.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowMs } from '../../core/clock.js';
import type { Sequence, SeqSink } from '../engine/sequence.js';
import type { EngineFinishReason } from '../engine/stats.js';
import { pieceText } from '../text.js';
import { planChoices, usageOf } from './choices.js';
import { errorJson, SimHttpError, typeForStatus } from './errors.js';
import type { FaultPlan } from './faults.js';
import type { SimInstance } from './instance.js';
import { modeFor } from './plan.js';
import { logprobEntry, type LogprobEntry, type StructuredDoc } from './structured.js';
import type { ChatParams, CompletionParams } from './validate.js';
import { jsonPiece, Wire, type Choice, type Usage } from './wire.js';

export interface RequestContext {
  readonly requestId: string;
  readonly arrivalMs: number;
  /** x-sim-output-tokens, already validated. */
  readonly outputTokens: number | undefined;
  readonly fault: FaultPlan;
  readonly extraHeaders: Record<string, string>;
}

export class GenerationResponse implements SeqSink {
  private readonly choices: readonly Choice[];
  private readonly byId = new Map<Sequence, Choice>();
  private readonly wire: Wire;
  private readonly usageFn = (): Usage => this.usage();
  private tokensSent = 0;
  private unfinished = 0;
  private closed = false;
  private headersSent = false;
  private gateUntil = 0;
  private gateTimer: NodeJS.Timeout | null = null;
  private pending = '';
  private endAfterFlush = false;
  private admitted = false;
  private readonly promptLens: readonly number[];
  /** Tool-call arguments or response_format documents, per sequence, in structured modes. */
  private readonly docs: ReadonlyMap<Sequence, StructuredDoc>;
  private readonly logprobs = new Map<Choice, LogprobEntry[]>();

  constructor(
    private readonly inst: SimInstance,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly params: ChatParams | CompletionParams,
    private readonly ctx: RequestContext,
  ) {
    const { rng, index } = inst.nextRequestRng();
    const chat = params.kind === 'chat';
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${inst.seed.toString(16)}${index.toString(16).padStart(8, '0')}${rng.nextU32().toString(16)}`;
    const mode = chat ? modeFor(params, rng) : 'text';
    this.wire = new Wire(params.kind, id, Math.floor(Date.now() / 1000), params.model ?? inst.model, mode, params.includeUsage, params.continuousUsage);

    const planned = planChoices(inst, params, ctx, rng, mode, id, this);
    this.choices = planned.choices;
    this.promptLens = planned.promptLens;
    this.docs = planned.docs;
    for (const c of this.choices) this.byId.set(c.seq, c);
    this.unfinished = this.choices.length;
  }

  /** Take over the response: faults, frontend latency, admission, then tokens as the engine makes them. */
  start(): void {
    const { res, ctx, inst } = this;
    inst.inFlight++;
    res.on('close', () => this.onClientClose());
    const f = ctx.fault;
    if (f.slowFirstByteMs > 0) this.gate(f.slowFirstByteMs);
    if (f.hang) return;
    const delay = inst.profile.latency.frontendMs + f.delayMs;
    if (delay > 0) setTimeout(() => this.admit(), delay);
    else this.admit();
  }

  private admit(): void {
    if (this.closed) return;
    const f = this.ctx.fault;
    if (f.status !== undefined) {
      const retry: Record<string, string> = f.status === 429 || f.status === 503 ? { 'retry-after': '1' } : {};
      this.fail(new SimHttpError(f.status, typeForStatus(f.status), `Injected fault: status ${f.status} (x-sim-fault or --fault).`, null, retry));
      return;
    }
    if (f.resetAfter === 0) {
      this.reset();
      return;
    }
    const now = nowMs();
    for (const c of this.choices) {
      if (!this.inst.engine.submit(c.seq, now)) {
        for (const other of this.choices) if (other.seq.status !== 'finished') this.inst.engine.abort(other.seq, now);
        const waiting = this.inst.engine.numWaiting;
        this.fail(
          new SimHttpError(503, 'ServiceUnavailableError', `The server is at capacity: ${waiting} requests are already waiting. Retry later.`, null, {
            'retry-after': '1',
          }),
        );
        return;
      }
    }
    this.admitted = true;
    this.inst.loop.kick();
    if (this.params.stream) this.openStream();
  }

  private openStream(): void {
    if (this.headersSent || this.closed || nowMs() < this.gateUntil) return;
    this.headersSent = true;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...this.ctx.extraHeaders,
    });
    this.res.flushHeaders();
  }

  onToken(seq: Sequence, _now: number): void {
    const c = this.byId.get(seq);
    if (c === undefined || this.closed) return;
    const id = seq.outputIds[seq.outputIds.length - 1] as number;
    const position = seq.outputIds.length - 1;
    const doc = this.docs.size === 0 ? undefined : this.docs.get(seq);
    const piece = doc === undefined ? pieceText(this.inst.vocab, id) : (doc.pieces[position] ?? '');
    let lp: LogprobEntry | undefined;
    if (this.params.kind === 'chat' && this.params.logprobs && typeof this.wire.mode !== 'object') {
      lp = logprobEntry(this.inst.vocab, piece, id, position, this.params.topLogprobs);
      if (!this.params.stream) {
        const list = this.logprobs.get(c) ?? [];
        list.push(lp);
        this.logprobs.set(c, list);
      }
    }
    if (!this.params.stream) c.text += piece;
    this.tokensSent++;
    if (this.params.stream) {
      const pieceJson = doc === undefined ? jsonPiece(this.inst.vocab, id) : undefined;
      this.write(this.wire.token(c, piece, this.usageFn, pieceJson, lp === undefined ? undefined : JSON.stringify({ content: [lp], refusal: null })));
    }
    this.afterToken();
  }

  onFinish(seq: Sequence, reason: EngineFinishReason, _now: number): void {
    const c = this.byId.get(seq);
    if (c === undefined) return;
    this.unfinished--;
    if (reason === 'abort') return;
    c.finish = typeof this.wire.mode === 'object' && reason !== 'length' ? 'tool_calls' : reason;
    if (this.closed) return;
    if (this.params.stream) {
      if (!c.started) this.write(this.wire.token(c, '', this.usageFn));
      this.write(this.wire.finish(c, this.usageFn));
      if (this.unfinished === 0) {
        this.write(this.wire.close(this.usageFn));
        this.end();
      }
    } else if (this.unfinished === 0) {
      this.sendBody();
    }
  }

  // ---- fault points, counted in tokens ---------------------------------------------------------

  private afterToken(): void {
    const f = this.ctx.fault;
    const n = this.tokensSent;
    if (f.resetAfter !== undefined && n >= f.resetAfter) {
      this.drop();
      return;
    }
    if (f.truncateAfter !== undefined && n >= f.truncateAfter) {
      if (this.params.stream) this.end();
      else this.sendRaw(this.bodyJson().slice(0, 40));
      this.abortAll();
      return;
    }
    if (f.malformedAfter === n && this.params.stream) this.write(this.wire.malformed());
    if (f.stallAfter !== undefined && f.stallAfter.tokens === n) this.gate(f.stallAfter.ms);
  }

  // ---- output plumbing -------------------------------------------------------------------------

  private usage(): Usage {
    return usageOf(this.choices, this.promptLens);
  }

  private bodyJson(): string {
    const lp = this.params.kind === 'chat' && this.params.logprobs ? (c: Choice): unknown => ({ content: this.logprobs.get(c) ?? [], refusal: null }) : undefined;
    return this.wire.body(this.choices, this.usage(), lp);
  }

  private sendBody(): void {
    let body = this.bodyJson();
    if (this.ctx.fault.malformedAfter !== undefined && this.tokensSent >= this.ctx.fault.malformedAfter) body = body.slice(0, -1) + ',}';
    this.sendRaw(body, true);
  }

  private sendRaw(body: string, complete = false): void {
    if (this.closed) return;
    const first = this.choices[0]?.seq;
    const timing: Record<string, string> =
      first === undefined
        ? {}
        : {
            'x-sim-queue-ms': fmt(first.scheduledMs - first.firstQueuedMs),
            'x-sim-ttft-ms': fmt(first.firstTokenMs - first.arrivalMs),
            'x-sim-preemptions': String(first.numPreemptions),
          };
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.ctx.extraHeaders, ...(complete ? timing : {}) };
    if (nowMs() < this.gateUntil) {
      // A stall or slow first byte still holds the response: send when it lifts.
      this.pending = body;
      this.endAfterFlush = true;
      this.pendingHeaders = headers;
      return;
    }
    this.headersSent = true;
    this.res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    this.res.end(body);
    this.done();
  }

  private pendingHeaders: Record<string, string> | null = null;

  private write(s: string): void {
    if (this.closed) return;
    // Held output (a gate, or headers not yet out) stays in order: later writes queue behind it.
    if (this.pending !== '' || !this.headersSent || nowMs() < this.gateUntil) {
      this.pending += s;
      return;
    }
    this.emit(s);
  }

  /**
   * One body write. With chunked encoding (every HTTP/1.1 stream) the chunk is framed here and goes
   * straight to the socket as one write: node:http's res.write costs several buffers and a deferred
   * uncork per call, which is most of the simulator's CPU at thousands of streams. All body bytes
   * take this path, so ordering is preserved; res.end() still writes the terminating chunk.
   */
  private emit(s: string): void {
    const sock = this.res.socket;
    if (this.res.chunkedEncoding && sock !== null && !sock.destroyed) {
      sock.write(`${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`);
    } else {
      this.res.write(s);
    }
  }

  private end(): void {
    if (this.closed) return;
    if (this.pending !== '' || !this.headersSent || nowMs() < this.gateUntil) {
      this.endAfterFlush = true;
      return;
    }
    this.res.end();
    this.done();
  }

  /** Hold all output for `ms` (a stall, or the slow first byte). */
  private gate(ms: number): void {
    this.gateUntil = Math.max(this.gateUntil, nowMs() + ms);
    if (this.gateTimer !== null) clearTimeout(this.gateTimer);
    this.gateTimer = setTimeout(() => this.flushGate(), Math.max(0, this.gateUntil - nowMs()));
  }

  private flushGate(): void {
    this.gateTimer = null;
    if (this.closed) return;
    const left = this.gateUntil - nowMs();
    if (left > 0) {
      // Timers can fire a fraction of a millisecond early: wait out the rest.
      this.gateTimer = setTimeout(() => this.flushGate(), left);
      return;
    }
    if (this.pendingHeaders !== null) {
      const body = this.pending;
      const headers = this.pendingHeaders;
      this.pending = '';
      this.pendingHeaders = null;
      this.headersSent = true;
      this.res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
      this.res.end(body);
      this.done();
      return;
    }
    if (!this.params.stream || !this.admitted) return;
    this.openStream();
    if (this.pending !== '') {
      this.emit(this.pending);
      this.pending = '';
    }
    if (this.endAfterFlush) {
      this.res.end();
      this.done();
    }
  }

  private fail(err: SimHttpError): void {
    if (this.closed) return;
    const body = errorJson(err);
    this.res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...this.ctx.extraHeaders, ...err.headers });
    this.res.end(body);
    this.done();
  }

  /**
   * Mid-response: close the connection without ending the response, once the tokens written so far
   * have left (a TCP RST now would make the client's kernel discard them). The client sees a body cut
   * short: no terminating chunk, no [DONE].
   */
  private drop(): void {
    this.abortAll();
    this.closed = true;
    // end() on the socket flushes what Node still buffers, then sends FIN; the HTTP response itself
    // is never finished.
    this.req.socket.end();
    this.done();
  }

  /** Before any byte: a real TCP reset. */
  private reset(): void {
    this.abortAll();
    const sock = this.req.socket;
    this.closed = true;
    if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
    else sock.destroy();
    this.done();
  }

  private abortAll(): void {
    const now = nowMs();
    for (const c of this.choices) if (c.seq.status !== 'finished') this.inst.engine.abort(c.seq, now);
  }

  private onClientClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.abortAll();
      this.done();
    }
  }

  private finished = false;

  private done(): void {
    this.closed = true;
    if (this.gateTimer !== null) {
      clearTimeout(this.gateTimer);
      this.gateTimer = null;
    }
    if (!this.finished) {
      this.finished = true;
      this.inst.inFlight--;
    }
  }
}

function fmt(ms: number): string {
  return ms < 0 ? '-1' : ms.toFixed(3);
}
