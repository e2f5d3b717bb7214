/**
 * A visitor's edits outlive their sandbox: saved when it stops (the visitor's Stop, or the idle TTL
 * on the `isolates` target, whose TTL is short), restored by their next start of the template, and
 * gone once they start it clean.
 */
import { expect, test, type Page } from '@playwright/test';
import { ISOLATE_SETTINGS } from './isolates/settings.ts';
import { codeEditor, idleStopped, preview, replaceEditorText, startSandbox, VUE_APP } from './helpers.ts';

const EDITED = VUE_APP.replace('Hello from Vue in a sandbox', 'Edited, then slept');

/** Starts the Vue template and saves an edit of App.vue, shown in the preview. */
async function editVue(page: Page): Promise<string> {
	const id = await startSandbox(page, 'Vue + Vite');
	await expect(preview(page).getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
	await replaceEditorText(page, EDITED);
	await page.getByRole('button', { name: 'Save' }).click();
	await expect(preview(page).getByRole('heading')).toHaveText('Edited, then slept');
	return id;
}

/** Starts the Vue template again: the restore is one of its steps, and the preview and the editor show the edit. */
async function expectRestored(page: Page) {
	await page.goto('/');
	await expect(page.getByText(/Your edits, saved (a moment|\d+ seconds) ago, come back when it starts\./)).toBeVisible();
	await startSandbox(page, 'Vue + Vite');
	await expect(preview(page).getByRole('heading')).toHaveText('Edited, then slept', { timeout: 30_000 });
	await expect(codeEditor(page, 'src/App.vue')).toContainText('Edited, then slept');
	await page.getByText('Boot steps').click();
	await expect(page.getByText(/^Restoring your edits from (a moment|\d+ seconds) ago$/)).toBeVisible();
}

test('edits saved by a stop come back at the next start of the template, until the visitor starts it clean', async ({ page, browser }, testInfo) => {
	test.skip(testInfo.project.name === 'isolates', 'the isolates target tests the idle TTL instead (below)');
	test.setTimeout(120_000);
	await editVue(page);
	await page.getByRole('button', { name: 'Stop sandbox' }).click();
	await page.waitForURL('/');

	await expectRestored(page);

	// Another visitor has none of them.
	const stranger = await browser.newPage();
	await stranger.goto('/');
	await expect(stranger.getByLabel('Vue + Vite')).toBeVisible();
	await expect(stranger.getByText(/Your edits/)).toHaveCount(0);
	await expect(stranger.getByLabel(/Start clean/)).toHaveCount(0);
	await stranger.close();

	await page.goto('/');
	await page.getByLabel('Vue + Vite').check();
	await page.getByLabel(/Start clean/).check();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await expect(preview(page).getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
	await page.getByText('Boot steps').click();
	await expect(page.getByText(/^Restoring your edits/)).toHaveCount(0);
	await page.goto('/');
	await expect(page.getByText(/Your edits/)).toHaveCount(0);
});

test('edits of a sandbox that the idle TTL stops come back at the next start', async ({ page, context }, testInfo) => {
	test.skip(testInfo.project.name !== 'isolates', 'only the isolates target has an idle TTL short enough to wait for');
	test.setTimeout(120_000);
	const id = await editVue(page);
	// A visible tab holds the TTL off: closed, nothing uses the sandbox.
	await page.close();
	await idleStopped(id, ISOLATE_SETTINGS.ttlSeconds);
	const later = await context.newPage();
	await later.goto(`/sandbox/${id}`);
	await expect(later.getByRole('status').filter({ hasText: 'This sandbox has stopped.' })).toContainText(
		'without use. Your edits are saved: starting this template again brings them back.'
	);
	await expect(later).toHaveTitle(/^Stopped/);
	await expectRestored(later);
});
