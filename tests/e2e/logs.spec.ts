/** The app's output under its preview: there once the sandbox is ready, and followed live with JavaScript. */
import { expect, test } from '@playwright/test';
import { readyHono } from './helpers.ts';

test("the app's output shows under the preview, and what it writes next arrives without a reload", async ({ page }) => {
	await readyHono(page);
	const log = page.getByRole('log', { name: 'Logs' });
	await expect(log).toContainText('hono listening on 0.0.0.0:8080');
	await expect(page.getByText('live', { exact: true })).toBeVisible();

	await page.getByRole('button', { name: 'GET /api/notes' }).click();
	// The request the console made, as the app logged it (its colours stripped).
	await expect(log).toContainText(/--> GET \/api\/notes 200 \d+ms/);
	await expect(log).not.toContainText('\x1b');
});

test("another visitor gets none of the app's output: neither the stream nor the page that shows it", async ({ page, browser }) => {
	const id = await readyHono(page);
	await expect(page.getByRole('log', { name: 'Logs' })).toContainText('hono listening');
	const stranger = await browser.newContext();
	try {
		const stream = await stranger.request.get(`/api/sandbox/${id}/logs`);
		expect(stream.status()).toBe(404);
		expect(await stream.text()).not.toContain('hono listening');
		const strangerPage = await stranger.newPage();
		const shown = await strangerPage.goto(`/sandbox/${id}`);
		expect(shown?.status()).toBe(404);
		await expect(strangerPage.getByText('hono listening')).toHaveCount(0);
	} finally {
		await stranger.close();
	}
});
