import type { LaunchOptions } from '@playwright/test';

/** Debian's Chromium (test tools cannot download browsers here), quiet in the background. */
export function chromiumLaunchOptions(extraArgs: string[] = []): LaunchOptions {
	return {
		executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
		args: ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...extraArgs]
	};
}
