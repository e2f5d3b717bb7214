import { existsSync } from 'node:fs';
import type { LaunchOptions } from '@playwright/test';

/**
 * Debian's builds of Chromium (test tools cannot download browsers here), quiet in the background.
 *
 * - `headless-shell` for every spec but one: Chromium's own headless build — the same Blink, V8 and
 *   network stack as the browser, without its UI layer — which is what Playwright itself runs
 *   headless. On two cores it takes half the CPU of the full browser, and a minute and more off a
 *   Playwright run.
 * - `full` where the browser's UI layer decides: it blocks third-party cookies in a private window,
 *   which is what Playwright's contexts are, and the headless shell blocks none
 *   (third-party-cookies.spec.ts).
 *
 * Each may be another build (`CHROMIUM_HEADLESS_SHELL_PATH=/usr/bin/chromium` to watch a spec with
 * `--headed`).
 */
const BUILDS = {
	'headless-shell': { variable: 'CHROMIUM_HEADLESS_SHELL_PATH', path: '/usr/bin/chromium-headless-shell', debianPackage: 'chromium-headless-shell' },
	full: { variable: 'CHROMIUM_PATH', path: '/usr/bin/chromium', debianPackage: 'chromium' }
} as const;

type Build = keyof typeof BUILDS;

const executableOf = (build: Build) => process.env[BUILDS[build].variable] ?? BUILDS[build].path;

export function chromiumLaunchOptions(extraArgs: string[] = [], build: Build = 'headless-shell'): LaunchOptions {
	return {
		executablePath: executableOf(build),
		args: ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...extraArgs]
	};
}

/** Says which browser is missing and how to get it, before every test fails to launch it. */
export function checkBrowsersInstalled() {
	const missing = (Object.keys(BUILDS) as Build[]).filter((build) => !existsSync(executableOf(build)));
	if (missing.length === 0) return;
	const lines = missing.map((build) => `${executableOf(build)} is missing: \`apt-get install ${BUILDS[build].debianPackage}\`, or set ${BUILDS[build].variable} to another build of Chromium`);
	throw new Error(lines.join('\n'));
}
