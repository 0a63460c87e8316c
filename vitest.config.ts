import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration files each run a whole local stage; two cores take two at a time.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    // Polls wait for what a user would wait for (a reconnect, a delivery) on a loaded 2-core machine;
    // the 1 s default made the page tests fail only when the whole suite ran at once.
    expect: { poll: { timeout: 10_000 } },
    hookTimeout: 180_000,
    // The SDK warns that releases after January 2027 need Node 22; the versions are pinned (see README).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
