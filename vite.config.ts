import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		include: ['tests/**/*.test.ts'],
		globalSetup: ['tests/helpers/global-setup.ts'],
		// Tests boot real sandboxes: one file at a time keeps a 2-core machine honest.
		fileParallelism: false,
		testTimeout: 60_000,
		hookTimeout: 60_000
	}
});
