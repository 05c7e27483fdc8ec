// Names the slowest test files and tests at the end of a run, so time spent in the suite has an
// owner. Printed before the default reporter's summary, which stays the run's last lines (CI reads
// its "Tests N passed").
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

const FILES = 8;
const TESTS = 10;

export default class SlowestReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (modules.length < 2) return; // one file: its own output already says how long it took
    const files = modules
      .map((m) => ({ name: relative(process.cwd(), m.moduleId), ms: m.diagnostic().duration }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, FILES);
    const tests = modules
      .flatMap((m) => [...m.children.allTests()].map((t) => ({ name: `${relative(process.cwd(), m.moduleId)} > ${t.fullName}`, ms: t.diagnostic()?.duration ?? 0 })))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, TESTS);
    const line = (r: { name: string; ms: number }): string => `  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.name}`;
    process.stdout.write(`\nSlowest test files (time in tests and hooks):\n${files.map(line).join('\n')}\n`);
    process.stdout.write(`Slowest tests:\n${tests.map(line).join('\n')}\n`);
  }
}
