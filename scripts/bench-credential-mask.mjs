// The response masking of a backend credential, per request, in one process: this build's dist/
// against another commit's (the folder `bench overhead --compare REF` builds, .tmp/bench-ref/<commit>),
// builds alternated, best of several rounds. Prints CPU per request for a non-streamed answer (one
// body) and for the bench's 20-chunk stream, each with the masking set-up the proxy does per request.
//
//   node scripts/bench-credential-mask.mjs .tmp/bench-ref/<commit> [--requests N] [--rounds N]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { requests: { type: 'string' }, rounds: { type: 'string' } } });
if (positionals.length !== 1) {
  process.stderr.write('usage: node scripts/bench-credential-mask.mjs REF_BUILD_DIR [--requests N] [--rounds N]\n  REF_BUILD_DIR: e.g. .tmp/bench-ref/<commit>, made by `tollgate bench overhead --compare <commit>`\n');
  process.exit(2);
}
const requests = Number(values.requests ?? 50_000);
const rounds = Number(values.rounds ?? 5);

async function load(dir) {
  const base = pathToFileURL(resolve(dir, 'dist', 'credentials')).href;
  const inject = await import(`${base}/inject.js`);
  const { StreamRedactor } = await import(`${base}/redact-stream.js`);
  const { SecretValue } = await import(pathToFileURL(resolve(dir, 'dist', 'core', 'secret.js')).href);
  // What ProxyRequest.onResponseStart does per 2xx, in either build's API.
  const redactorFor =
    inject.responseSecrets !== undefined
      ? (cred, headers) => {
          const s = inject.responseSecrets(cred, headers);
          return s === undefined ? undefined : new StreamRedactor(s);
        }
      : (cred, headers) => {
          const s = inject.credentialSecrets(cred, headers);
          return s.length === 0 ? undefined : new StreamRedactor(s);
        };
  return { redactorFor, SecretValue };
}

// The overhead bench's backend: an API key sent as `authorization: Bearer sk-bench`.
const credential = (SecretValue) => ({ kind: 'header', policy: 'APIKey', header: 'authorization', policyName: 'default/bench', value: new SecretValue('Bearer sk-bench', 'bench') });
const headers = { host: 'localhost', 'content-type': 'application/json', 'content-length': '120', accept: '*/*', 'user-agent': 'bench' };
const event = (i) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'bench-model', choices: [{ index: 0, delta: { content: `tok${i} ` }, finish_reason: null }] })}\n\n`;
const stream = [...Array.from({ length: 20 }, (_, i) => Buffer.from(event(i))), Buffer.from('data: [DONE]\n\n')];
const json = [Buffer.from(JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'bench-model', choices: [{ index: 0, message: { role: 'assistant', content: 'a short answer from the bench upstream' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 } }))];

function perRequestUs(build, cred, chunks) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    const r = build.redactorFor(cred, headers);
    for (const c of chunks) sink += r.push(c).length;
    sink += r.push(Buffer.alloc(0)).length;
    sink += r.end()?.length ?? 0;
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / requests;
  if (sink < 0) throw new Error('unreachable');
  return us;
}

const builds = { before: await load(positionals[0]), after: await load('.') };
const creds = { before: credential(builds.before.SecretValue), after: credential(builds.after.SecretValue) };
const best = { before: { json: Infinity, stream: Infinity }, after: { json: Infinity, stream: Infinity } };
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 === 0 ? ['before', 'after'] : ['after', 'before']) {
    best[name].json = Math.min(best[name].json, perRequestUs(builds[name], creds[name], json));
    best[name].stream = Math.min(best[name].stream, perRequestUs(builds[name], creds[name], stream));
  }
}
const f = (x) => x.toFixed(2);
console.log(`credential masking, CPU per request (best of ${rounds} rounds of ${requests}):`);
console.log(`  non-streamed body:  before ${f(best.before.json)} µs  after ${f(best.after.json)} µs  ratio ${f(best.after.json / best.before.json)}×`);
console.log(`  20-chunk stream:    before ${f(best.before.stream)} µs  after ${f(best.after.stream)} µs  ratio ${f(best.after.stream / best.before.stream)}×`);
