// countTokens for a model served by a non-Gemini backend: no such backend can count Gemini contents,
// so the gateway counts them with its own tokenizer (the encoding configured on the backend, else the
// one for the model's family), over the same chat form the request would be translated to. The
// answer says so in `x-tollgate-token-count: gateway`; Gemini backends count for themselves.
import type { BackendConfig } from '../../config/types.js';
import type { ChatMessage } from '../../protocol/openai.js';
import { countChatTokens, encodingForModel, loadTokenizer } from '../../tokenizer/index.js';
import type { Json } from '../../providers/shared/json.js';
import { countableChat } from './to-chat.js';

export const COUNT_SOURCE_HEADER = 'x-tollgate-token-count';

export async function countLocally(body: Readonly<Json>, model: string, backend: BackendConfig): Promise<Json> {
  const chat = countableChat(body, model);
  const tokenizer = await loadTokenizer(backend.tokenizer ?? encodingForModel(model));
  const messages = chat['messages'] as ChatMessage[];
  let total = countChatTokens(tokenizer, messages);
  // Tool declarations are part of the prompt too.
  if (Array.isArray(chat['tools'])) total += tokenizer.count(JSON.stringify(chat['tools']));
  return { totalTokens: total };
}
