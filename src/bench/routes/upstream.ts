// The upstream of the routes benchmark, run as its own process (`node upstream.js PORT`): answers
// every chat completion at once and echoes the model it was asked for, so a probe can tell that the
// gateway sent route i's request with route i's modelNameOverride (it reached the right rule).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const MODEL = /"model"\s*:\s*"([^"]*)"/;

export function startEchoUpstream(port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const model = MODEL.exec(Buffer.concat(chunks).toString('utf8'))?.[1] ?? '';
      const body = `{"id":"chatcmpl-routes","object":"chat.completion","created":1,"model":${JSON.stringify(model)},"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  void startEchoUpstream(Number(process.argv[2] ?? '0')).then((s) => {
    process.stdout.write(`ready ${(s.address() as AddressInfo).port}\n`);
  });
}
