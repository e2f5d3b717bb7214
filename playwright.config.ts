import { defineConfig } from '@playwright/test';

export default defineConfig({
	testDir: 'tests/e2e',
	// Each test boots real sandboxes; the machine has two cores.
	workers: 1,
	timeout: 60_000,
	expect: { timeout: 20_000 },
	reporter: 'list',
	// Starts the app as `npm run dev` does, and checks at the end that no sandbox outlived it.
	globalSetup: './tests/e2e/app-server.ts',
	use: {
		baseURL: 'http://localhost:5173',
		trace: 'retain-on-failure',
		launchOptions: {
			// Debian's Chromium: test tools cannot download browsers here.
			executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
			args: ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']
		}
	}
});
