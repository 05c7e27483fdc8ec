// Preloaded into the benchmarked gateway (`node --expose-gc --import <this>`): SIGUSR2 runs a full
// garbage collection and says so on stderr. Hot reloads leave garbage that V8 collects lazily, so
// RSS or heap read without it would charge reload garbage to the routes. Nothing else changes.
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  process.stderr.write(`{"msg":"bench: gc done","exposed":${String(gc !== undefined)}}\n`);
});
