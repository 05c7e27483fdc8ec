// OpenAI's audio transcription and translation endpoints: the request is a multipart upload (the
// audio file and text fields), read only as far as its `model` field and streamed on to the backend
// (src/pipeline/upload.ts); the answer (JSON, text, SRT, VTT or a stream of transcript events)
// passes through with usage read on the side (src/providers/shared/transcription.ts).
import type { Operation } from '../../core/outcome.js';
import { readUpload } from '../../pipeline/upload.js';
import type { IngressMatch } from '../index.js';

function upload(operation: Operation, subpath: string): IngressMatch {
  return {
    operation,
    subpath,
    methods: ['POST'],
    readBody: (req, res, limit, limits) => readUpload(req, res, limit, limits.uploadLookaheadBytes),
  };
}

export const AUDIO_UPLOADS: ReadonlyArray<readonly [string, IngressMatch]> = [
  ['/v1/audio/transcriptions', upload('transcriptions', '/audio/transcriptions')],
  ['/v1/audio/translations', upload('translations', '/audio/translations')],
];
