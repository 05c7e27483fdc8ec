// Bedrock's Converse API behind the OpenAI front door (AWSBedrock schema).
import type { Provider } from '../types.js';
import { translateToBedrock } from './request.js';
import { bedrockResponseTranslator, translateBedrockError } from './response.js';

export const bedrockProvider: Provider = {
  name: 'aws-bedrock',
  translateRequest: translateToBedrock,
  responseTranslator: (req, contentType) => bedrockResponseTranslator(req, contentType),
  translateError: translateBedrockError,
};
