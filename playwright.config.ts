import { defineConfig } from '@playwright/test';
import { baseUrlOf, TARGETS } from './tests/e2e/app-server.ts';
import { chromiumLaunchOptions } from './tests/e2e/chromium.ts';

/**
 * Which specs run where: every visitor's scenario on the worker (what production runs) and on vite
 * dev (the routes in Node, behind the dev server's own socket handling); but the layout's on the
 * worker only: it is the page's own CSS and components, whichever runtime serves them; and saved
 * edits not on vite dev: they are the Durable Objects' (in workerd there too), and the start page
 * and its action that show and restore them run in every spec there. On two
 * isolates, what state shared across requests could break: the visitor's flows (app.spec.ts), saved
 * edits, and coordination.spec.ts with the short TTL and low limits only they run with (the editor's,
 * console's and no-JS routes hold no state: the isolates add no code path to them). The cookie
 * layout of a real domain on the worker over https; a full machine on the worker with room for two
 * sandboxes; the worker with a warm pool; and the worker in the full browser, which blocks third-party
 * cookies (every other project runs Chromium's headless shell: tests/e2e/chromium.ts).
 */
const SPECS = {
	'vite-dev': { testIgnore: /(coordination|session-fixation|capacity|pool|layout|saved-edits|third-party-cookies)\.spec\.ts/ },
	worker: { testIgnore: /(coordination|session-fixation|capacity|pool|third-party-cookies)\.spec\.ts/ },
	isolates: { testMatch: /(app|coordination|saved-edits)\.spec\.ts/ },
	https: { testMatch: /session-fixation\.spec\.ts/ },
	capacity: { testMatch: /capacity\.spec\.ts/ },
	pool: { testMatch: /pool\.spec\.ts/ }
};

export default defineConfig({
	testDir: 'tests/e2e',
	// Three files at a time (a file's tests run in order): a test spends most of its time waiting on
	// a boot, a TTL or the browser, so on two cores three take 4–5 min where one takes 6, and four
	// no less than three, at a load of 20.
	workers: 3,
	timeout: 60_000,
	expect: { timeout: 20_000 },
	reporter: 'list',
	// Builds the worker, starts the app under `vite dev` and in workerd, and checks at the end that
	// no sandbox outlived them.
	globalSetup: './tests/e2e/app-server.ts',
	use: {
		// The DOM snapshots of a failed test, without the screencast: filming every test cost a fifth of
		// its time on two cores.
		trace: { mode: 'retain-on-failure', screenshots: false },
		// *.sandbox.test: an app host other than localhost, resolved to this machine (app.spec.ts).
		launchOptions: chromiumLaunchOptions(['--host-resolver-rules=MAP *.sandbox.test 127.0.0.1, MAP sandbox.test 127.0.0.1'])
	},
	projects: [
		...(Object.keys(TARGETS) as (keyof typeof TARGETS)[]).map((name) => ({
			name,
			use: { baseURL: baseUrlOf(name), ignoreHTTPSErrors: name === 'https' },
			...SPECS[name]
		})),
		{
			name: 'full-chromium',
			use: { baseURL: baseUrlOf('worker'), launchOptions: chromiumLaunchOptions([], 'full') },
			testMatch: /third-party-cookies\.spec\.ts/
		}
	]
});
