// How an ingress API reaches a backend: natively, when the backend speaks that API, else through the
// pivot (an OpenAI Chat Completions or Embeddings request) that every provider already translates
// from, with the pivot answer translated back. An ingress supplies both directions as pure functions;
// `withIngress` puts them in front of a provider.
import type { BackendRefConfig } from '../config/types.js';
import type { Operation } from '../core/outcome.js';
import type { ClientRequest, Provider, ResponseTranslator, UpstreamRequest } from '../providers/types.js';

export interface NativeCodec {
  translateRequest(req: ClientRequest, ref: BackendRefConfig): UpstreamRequest;
  responseTranslator(req: ClientRequest, contentType: string | undefined): ResponseTranslator;
}

export interface IngressCodec {
  readonly operations: ReadonlySet<Operation>;
  /** The native form for this backend, or undefined to go through the pivot. */
  native(ref: BackendRefConfig, req: ClientRequest): NativeCodec | undefined;
  /** The client's request as a pivot request. Throws GatewayError naming what the pivot cannot carry. */
  toPivot(req: ClientRequest): ClientRequest;
  /** The backend's answer, already in the pivot's form, as the client's API. */
  fromPivot(req: ClientRequest, pivot: ResponseTranslator): ResponseTranslator;
}

/** `base` serving the codecs' operations too; anything else goes to `base` unchanged. */
export function withIngress(base: Provider, codecs: readonly IngressCodec[]): Provider {
  // One pivot form per client request (shared by retries); and which way its latest attempt went.
  const pivots = new WeakMap<ClientRequest, ClientRequest>();
  const nativeFor = new WeakMap<ClientRequest, NativeCodec | undefined>();
  const codecOf = (req: ClientRequest): IngressCodec | undefined => codecs.find((c) => c.operations.has(req.operation));
  const pivotOf = (codec: IngressCodec, req: ClientRequest): ClientRequest => {
    let p = pivots.get(req);
    if (p === undefined) {
      p = codec.toPivot(req);
      pivots.set(req, p);
    }
    return p;
  };
  return {
    name: base.name,
    translateRequest(req, ref) {
      const codec = codecOf(req);
      if (codec === undefined) return base.translateRequest(req, ref);
      const native = codec.native(ref, req);
      nativeFor.set(req, native);
      return native === undefined ? base.translateRequest(pivotOf(codec, req), ref) : native.translateRequest(req, ref);
    },
    responseTranslator(req, contentType, reading) {
      const codec = codecOf(req);
      if (codec === undefined) return base.responseTranslator(req, contentType, reading);
      const native = nativeFor.get(req);
      if (native !== undefined) return native.responseTranslator(req, contentType);
      return codec.fromPivot(req, base.responseTranslator(pivotOf(codec, req), contentType, reading));
    },
    translateError: (status, contentType, body, backendName) => base.translateError(status, contentType, body, backendName),
  };
}

/** A pivot request with a JSON body the gateway wrote. */
export function pivotRequest(operation: 'chat' | 'embeddings', body: Record<string, unknown>, stream: boolean): ClientRequest {
  return {
    operation,
    subpath: operation === 'chat' ? '/chat/completions' : '/embeddings',
    query: '',
    body,
    raw: Buffer.from(JSON.stringify(body)),
    stream,
  };
}
