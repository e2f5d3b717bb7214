import { defineConfig } from '@playwright/test';
import { TARGETS } from './tests/e2e/app-server.ts';
import { chromiumLaunchOptions } from './tests/e2e/chromium.ts';

export default defineConfig({
	testDir: 'tests/e2e',
	// Each test boots real sandboxes; the machine has two cores.
	workers: 1,
	timeout: 60_000,
	expect: { timeout: 20_000 },
	reporter: 'list',
	// Builds the worker, starts the app under `vite dev` and in workerd, and checks at the end that
	// no sandbox outlived them.
	globalSetup: './tests/e2e/app-server.ts',
	use: {
		trace: 'retain-on-failure',
		// *.sandbox.test: an app host other than localhost, resolved to this machine (app.spec.ts).
		launchOptions: chromiumLaunchOptions(['--host-resolver-rules=MAP *.sandbox.test 127.0.0.1, MAP sandbox.test 127.0.0.1'])
	},
	// The same scenarios against both ways the app runs; the visitor's flows again against two
	// isolates in turn, which alone run with the short TTL and low start limits coordination.spec.ts tests.
	projects: Object.entries(TARGETS).map(([name, { port }]) => ({
		name,
		use: { baseURL: `http://localhost:${port}` },
		...(name === 'isolates' ? { testMatch: /(app|editor|no-javascript|coordination)\.spec\.ts/ } : { testIgnore: /coordination\.spec\.ts/ })
	}))
});
