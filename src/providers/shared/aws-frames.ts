// Bedrock response streams: AWS event-stream frames → typed events (JSON payloads) or exceptions.
// InvokeModelWithResponseStream wraps the model's own events in `chunk` events whose payload is
// `{"bytes": base64}`; `unwrapChunk` returns the inner JSON.
import { EventStreamDecoder, EventStreamError, headerString } from '../../protocol/eventstream.js';
import { isRecord, parseJson, type Json } from './json.js';

export type AwsStreamItem =
  | { readonly kind: 'event'; readonly type: string; readonly payload: Json }
  | { readonly kind: 'exception'; readonly type: string; readonly message: string };

export class AwsFrames {
  private readonly decoder = new EventStreamDecoder();
  private broken = false;

  push(chunk: Buffer): AwsStreamItem[] {
    if (this.broken) return [];
    let msgs;
    try {
      msgs = this.decoder.push(chunk);
    } catch (err) {
      this.broken = true;
      return [{ kind: 'exception', type: 'protocolError', message: err instanceof EventStreamError ? err.message : 'the event stream is corrupt' }];
    }
    const out: AwsStreamItem[] = [];
    for (const m of msgs) {
      const messageType = headerString(m, ':message-type') ?? 'event';
      const payload = parseJson(m.payload);
      if (messageType === 'event') {
        out.push({ kind: 'event', type: headerString(m, ':event-type') ?? '', payload: isRecord(payload) ? payload : {} });
      } else {
        const type = headerString(m, ':exception-type') ?? headerString(m, ':error-code') ?? 'exception';
        const message = isRecord(payload) && typeof payload['message'] === 'string' ? payload['message'] : (headerString(m, ':error-message') ?? type);
        out.push({ kind: 'exception', type, message });
      }
    }
    return out;
  }

  /** Bytes of a frame that never completed (a cut stream). */
  get pending(): number {
    return this.decoder.pending();
  }
}

/** The model-native JSON inside an InvokeModel stream `chunk` event. */
export function unwrapChunk(payload: Json): Json | undefined {
  const b = payload['bytes'];
  if (typeof b !== 'string') return undefined;
  const inner = parseJson(Buffer.from(b, 'base64'));
  return isRecord(inner) ? inner : undefined;
}

/** Bedrock stream exceptions → the gateway's error codes. */
export function awsExceptionCode(type: string): 'upstream_rate_limited' | 'upstream_unavailable' | 'upstream_rejected' | 'upstream_protocol_error' | 'upstream_status' {
  switch (type) {
    case 'throttlingException':
      return 'upstream_rate_limited';
    case 'serviceUnavailableException':
      return 'upstream_unavailable';
    case 'validationException':
      return 'upstream_rejected';
    case 'protocolError':
      return 'upstream_protocol_error';
    default:
      return 'upstream_status';
  }
}
