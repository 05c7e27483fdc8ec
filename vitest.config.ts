import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests open real sockets and child processes; two cores, so keep file parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
    // The slowest-tests report first, so the default summary stays the last lines of the run.
    reporters: ['./test/helpers/slowest-reporter.ts', 'default'],
  },
});
