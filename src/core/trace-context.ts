// W3C Trace Context (https://www.w3.org/TR/trace-context/) for the gateway's span: continue the
// client's trace when it sent a valid `traceparent`, start one otherwise, and hand the upstream a
// `traceparent` naming the gateway's span as parent, so an engine's spans (vLLM exports OTLP too)
// nest under the gateway's. Pure: the caller decides whether tracing is on.
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  readonly traceId: string;
  /** The gateway's own span. */
  readonly spanId: string;
  /** The client's span, when the request continued a trace. */
  readonly parentSpanId: string | undefined;
  /** The caller's sampling decision (flag 01); a new trace is sampled. */
  readonly sampled: boolean;
  /** What the upstream receives. */
  readonly traceparent: string;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

interface Parent {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
}

/**
 * Parses a `traceparent` header; undefined when absent or invalid (the spec says to start a new
 * trace then). Version 00 is exactly 55 characters; a later version may append fields after the flags.
 */
export function parseTraceparent(value: string | string[] | undefined): Parent | undefined {
  if (typeof value !== 'string') return undefined; // absent, or sent twice: invalid either way
  const v = value.trim();
  if (v.length < 55 || v[2] !== '-' || v[35] !== '-' || v[52] !== '-') return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff') return undefined;
  if (version === '00' ? v.length !== 55 : v.length > 55 && v[55] !== '-') return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** The gateway's span context for one request, continuing `incoming` when it is valid. */
export function startTrace(incoming: string | string[] | undefined): TraceContext {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  const sampled = parent === undefined || (parent.flags & 1) === 1;
  return { traceId, spanId, parentSpanId: parent?.spanId, sampled, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}
