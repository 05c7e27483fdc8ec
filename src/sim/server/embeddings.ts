// /v1/embeddings: deterministic pseudo-embeddings (the same input always maps to the same unit
// vector), usage counted with the server's tokenizer, latency from the profile. Embedding models run
// in their own engine in vLLM, so these requests do not take decode steps here either.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hashString, Rng } from '../rng.js';
import { badRequest, errorJson, SimHttpError, typeForStatus } from './errors.js';
import type { FaultPlan } from './faults.js';
import type { SimInstance } from './instance.js';
import type { EmbeddingParams } from './validate.js';

function vector(seed: number, input: string | number[], dims: number): Float32Array {
  const key = typeof input === 'string' ? input : input.join(',');
  const rng = new Rng(seed ^ hashString(key), 0xe3b);
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const x = rng.normal();
    v[i] = x;
    norm += x * x;
  }
  const k = 1 / Math.sqrt(norm);
  for (let i = 0; i < dims; i++) v[i] = (v[i] as number) * k;
  return v;
}

export function handleEmbeddings(
  inst: SimInstance,
  req: IncomingMessage,
  res: ServerResponse,
  params: EmbeddingParams,
  fault: FaultPlan,
  headers: Record<string, string>,
): void {
  const dims = params.dimensions ?? inst.profile.embeddings.dimensions;
  if (dims > inst.profile.embeddings.dimensions) {
    throw badRequest(`dimensions ${dims} is larger than the model's ${inst.profile.embeddings.dimensions}`, 'dimensions');
  }
  let tokens = 0;
  for (const input of params.inputs) {
    const n = typeof input === 'string' ? inst.tokenizer.count(input) : input.length;
    if (n > inst.profile.maxModelLen) {
      throw badRequest(`This model's maximum context length is ${inst.profile.maxModelLen} tokens. However, you requested ${n} tokens in the input for embedding generation. Please reduce the length of the input.`, 'input');
    }
    tokens += n;
  }
  if (fault.hang) return;
  const e = inst.profile.embeddings;
  const delay = e.fixedMs + e.tokenMs * tokens + fault.delayMs + fault.slowFirstByteMs + inst.profile.latency.frontendMs;
  inst.inFlight++;
  let settled = false;
  const finish = (): void => {
    if (settled) return;
    settled = true;
    inst.inFlight--;
  };
  res.on('close', finish);
  setTimeout(() => {
    if (res.destroyed) return finish();
    if (fault.resetAfter !== undefined) {
      const s = req.socket;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
      return finish();
    }
    if (fault.status !== undefined) {
      const body = errorJson(new SimHttpError(fault.status, typeForStatus(fault.status), `Injected fault: status ${fault.status} (x-sim-fault or --fault).`));
      res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
      return finish();
    }
    const data = params.inputs.map((input, index) => {
      const v = vector(inst.seed, input, dims);
      const embedding = params.encodingFormat === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
      return { object: 'embedding', index, embedding };
    });
    let body = JSON.stringify({ id: `embd-${inst.nextRequestRng().index.toString(16)}`, object: 'list', created: Math.floor(Date.now() / 1000), model: params.model ?? inst.model, data, usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 } });
    if (fault.malformedAfter !== undefined || fault.truncateAfter !== undefined) body = body.slice(0, Math.floor(body.length / 2));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
    finish();
  }, delay);
}
