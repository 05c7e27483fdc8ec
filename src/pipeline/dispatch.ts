// The undici dispatch of one attempt: the upstream request the provider translated, with the headers
// the upstream gets (client headers minus credentials, mutations, the backend's credential or SigV4
// signature last) and the attempt's timeouts.
import type { Dispatcher } from 'undici';
import type { BackendRefConfig } from '../config/types.js';
import { hostOf } from '../credentials/inject.js';
import type { UpstreamRequest } from '../providers/types.js';
import type { EndpointHandle } from '../upstream/pools.js';
import { buildUpstreamHeaders } from './headers.js';
import type { ProxyInput } from './proxy-types.js';
import { uploadBody } from './upload.js';

export function dispatchOptions(input: ProxyInput, ref: BackendRefConfig, endpoint: EndpointHandle, upstreamReq: UpstreamRequest): Dispatcher.DispatchOptions {
  const headers = buildUpstreamHeaders(input.req.headers, {
    requestId: input.requestId,
    model: upstreamReq.model ?? input.originalModel,
    clientAddress: input.clientAddress,
    scheme: input.scheme,
    traceparent: input.traceparent,
    backendMutation: ref.backend.headerMutation,
    refMutation: ref.headerMutation,
    credential: ref.backend.credential,
    strip: input.strip,
    providerHeaders: upstreamReq.headers,
    signing:
      ref.backend.credential?.kind === 'aws-sigv4'
        ? { method: upstreamReq.method, host: hostOf(endpoint.origin), path: upstreamReq.path, body: upstreamReq.body }
        : undefined,
  });
  // streamIdleTimeout bounds the silence before the first byte and between chunks; otherwise the
  // per-try (or backend) timeout bounds the wait for the response head. The request deadline is a
  // separate timer.
  const idle = input.rule.timeouts.streamIdleMs;
  const perTry = input.rule.retry.perTryTimeoutMs ?? input.rule.timeouts.backendRequestMs ?? ref.backend.requestTimeoutMs;
  return {
    method: upstreamReq.method,
    path: upstreamReq.path,
    headers,
    body: uploadBody(upstreamReq.body, input.client.upload),
    headersTimeout: idle ?? perTry ?? 0,
    bodyTimeout: idle ?? 0,
  };
}
