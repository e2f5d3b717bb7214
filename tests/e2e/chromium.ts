import type { LaunchOptions } from '@playwright/test';

/**
 * Debian's builds of Chromium (test tools cannot download browsers here), quiet in the background.
 *
 * - `headless-shell` (the `chromium-headless-shell` package) for every spec but one: Chromium's own
 *   headless build — the same Blink, V8 and network stack as the browser, without its UI layer — which
 *   is what Playwright itself runs headless. On two cores it takes half the CPU of the full browser,
 *   and a minute and more off a Playwright run.
 * - `full` (the `chromium` package) where the browser's UI layer decides: it blocks third-party
 *   cookies in a private window, which is what Playwright's contexts are, and the headless shell
 *   blocks none (third-party-cookies.spec.ts).
 *
 * `CHROMIUM_HEADLESS_SHELL_PATH` and `CHROMIUM_PATH` point at other builds (`CHROMIUM_HEADLESS_SHELL_PATH=
 * /usr/bin/chromium` to watch a spec with `--headed`).
 */
export function chromiumLaunchOptions(extraArgs: string[] = [], build: 'headless-shell' | 'full' = 'headless-shell'): LaunchOptions {
	const executablePath =
		build === 'full'
			? (process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')
			: (process.env.CHROMIUM_HEADLESS_SHELL_PATH ?? '/usr/bin/chromium-headless-shell');
	return {
		executablePath,
		args: ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...extraArgs]
	};
}
