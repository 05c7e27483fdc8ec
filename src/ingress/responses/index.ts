// The OpenAI Responses API ingress (POST /v1/responses): natively to backends annotated as serving it,
// through chat completions to every other backend.
import type { IngressCodec, NativeCodec } from '../codec.js';
import { pivotRequest } from '../codec.js';
import { ChatToResponses } from './from-chat.js';
import { nativeResponsesRequest, ResponsesObserver } from './native.js';
import { historyOf } from './state.js';
import { responsesToChat } from './to-chat.js';

const NATIVE: NativeCodec = {
  translateRequest: nativeResponsesRequest,
  responseTranslator: (req) => new ResponsesObserver(req),
};

export const responsesCodec: IngressCodec = {
  operations: new Set(['responses']),
  native: (ref) => (ref.backend.nativeResponses === true ? NATIVE : undefined),
  toPivot: (req) => pivotRequest('chat', responsesToChat(req.body, historyOf(req.body)), req.stream),
  fromPivot: (req, pivot) => new ChatToResponses(pivot, req),
};
