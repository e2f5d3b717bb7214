import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from './chromium.ts';
import { answer, pageScrollsSideways, preview, previewJson, readyHono, smallTapTargets, startSandbox, statusLine, VUE_INDEX, workspaceOf } from './helpers.ts';

test.use({
	javaScriptEnabled: false,
	// Also the browser's own setting: Playwright's emulation reaches the preview, a cross-origin frame
	// in a renderer of its own, only once that frame has attached, and a fast preview can be parsed
	// with scripting on before it does (its <noscript> then is plain text).
	launchOptions: chromiumLaunchOptions(['--blink-settings=scriptEnabled=false'])
});

test.describe('without JavaScript', () => {
	test.describe('an Express sandbox', () => {
		// One visitor's sandbox: started by the form, then restarted.
		test.describe.configure({ mode: 'serial' });
		let page: Page;
		test.beforeAll(async ({ browser }) => {
			page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
		});
		test.afterAll(() => page?.context().close());

		test('the form starts a sandbox and the status page refreshes itself until the iframe shows the JSON', async () => {
			const id = await startSandbox(page);
			await expect(page.locator('[data-status="ready"]')).toBeVisible({ timeout: 30_000 });
			const json = await previewJson(page);
			expect(json.sandbox).toBe(id);
			// Once ready, the page stops refreshing.
			await expect(page.locator('meta[http-equiv="refresh"]')).toHaveCount(0);
			// The app's output so far is in the page, with a way to reload it.
			await expect(page.getByRole('log', { name: 'Logs' })).toContainText('express listening on 0.0.0.0:3001');
			await expect(page.getByRole('link', { name: 'Refresh' })).toBeVisible();
		});

		test('the restart form starts the app again, and the page follows the restart until the app answers', async () => {
			const { startedAt } = await previewJson(page);
			await page.getByRole('button', { name: 'Restart the app' }).click();
			// The same preview, served by a new run of the app, on a page that has stopped reloading.
			await expect.poll(async () => (await previewJson(page)).startedAt, { timeout: 30_000 }).not.toBe(startedAt);
			await expect(page.locator('[data-status="ready"]')).toBeVisible();
			await expect(page.locator('meta[http-equiv="refresh"]')).toHaveCount(0);
		});
	});

	test.describe('a Vue sandbox and its editor', () => {
		// One visitor's sandbox for the three, in this order.
		test.describe.configure({ mode: 'serial' });
		let page: Page;
		let id: string;
		test.beforeAll(async ({ browser }) => {
			page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
			id = await startSandbox(page, 'Vue + Vite');
			await expect(page.locator('[data-status="ready"]')).toBeVisible({ timeout: 30_000 });
		});
		test.afterAll(() => page?.context().close());

		test('the editor is a textarea form: a save redirects back, and the iframe shows the change', async () => {
			// Without JavaScript the Vue app cannot run: the preview shows index.html's own content, its
			// <noscript> (which Playwright's text matching skips, hence the paragraph inside).
			const fallback = preview(page).locator('#app noscript p');
			await expect(fallback).toContainText('This Vue app needs JavaScript');

			await page.getByRole('link', { name: 'index.html' }).click();
			const textarea = page.getByRole('textbox', { name: 'Contents of index.html' });
			await expect(textarea).toHaveValue(VUE_INDEX);
			const edited = VUE_INDEX.replace('This Vue app needs JavaScript.', 'Edited without JavaScript.');
			await textarea.fill(edited);
			await page.getByRole('button', { name: 'Save' }).click();

			await page.waitForURL(new RegExp(`/sandbox/${id}\\?file=index\\.html&saved=\\d+&refresh=1$`));
			await expect(fallback).toContainText('Edited without JavaScript.');
			await expect(page.getByRole('status').filter({ hasText: 'Saved index.html' })).toContainText('The preview reloaded.');
			// The file holds exactly what was typed, with the textarea's CRLF line breaks back to LF.
			await expect(page.getByRole('textbox', { name: 'Contents of index.html' })).toHaveValue(edited);
			expect(readFileSync(join(workspaceOf(id), 'app/index.html'), 'utf8')).toBe(edited);
		});

		test('a refused save shows why and keeps the text that was typed', async () => {
			// On another tab than the first: the page after the refusal must show the same file.
			await page.getByRole('link', { name: 'index.html' }).click();
			const oversized = `${VUE_INDEX}<!-- ${'x'.repeat(128 * 1024)} -->\n`;
			await page.getByRole('textbox', { name: 'Contents of index.html' }).fill(oversized);
			await page.getByRole('button', { name: 'Save' }).click();
			await expect(page.getByRole('alert')).toContainText('Not saved: The file is too large');
			await expect(page.getByRole('textbox', { name: 'Contents of index.html' })).toHaveValue(oversized);
		});

		test('on a phone, the textarea sits below the preview, finger-sized, with no sideways scroll', async () => {
			await page.setViewportSize({ width: 360, height: 740 });
			await page.goto(`/sandbox/${id}`);
			const textarea = page.getByRole('textbox', { name: 'Contents of src/App.vue' });
			await expect(textarea).toBeVisible();
			const frame = (await page.locator('iframe').boundingBox())!;
			const field = (await textarea.boundingBox())!;
			expect(frame.y + frame.height).toBeLessThanOrEqual(field.y);
			expect(field.height).toBeGreaterThanOrEqual(740 / 2);
			expect(await smallTapTargets(page)).toEqual([]);
			expect(await pageScrollsSideways(page)).toBe(false);
		});
	});

	test('the API console form posts, and the page shows the answer, events included; a bad path is refused with the form kept', async ({ page }) => {
		await readyHono(page);
		await page.getByRole('button', { name: 'GET /api/events?count=5' }).click();
		await expect(statusLine(page)).toHaveText('200 OK');
		const events = answer(page).getByRole('list', { name: 'Events' }).locator('li');
		await expect(events).toHaveCount(6);
		await expect(answer(page).getByText('The app ended the stream after 6 events.')).toBeVisible();

		await page.getByLabel('Path').fill('//elsewhere.example/api');
		await page.getByRole('button', { name: 'Send' }).click();
		await expect(page.getByRole('alert')).toContainText('The path starts with a single /');
		await expect(page.getByLabel('Path')).toHaveValue('//elsewhere.example/api');
	});
});
