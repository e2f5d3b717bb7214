/**
 * A full machine, as visitors meet it (the `capacity` target: room for two sandboxes, reclaimable
 * after 4 s unused). Visitors who closed their tab make room for the next; visitors who watch keep
 * theirs, and a newcomer is told at once that every sandbox is busy.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import { chromiumLaunchOptions } from './chromium.ts';
import { preview, previewJson, startSandbox } from './helpers.ts';

/** The target's SANDBOX_RECLAIM_AFTER_SECONDS, and a little. */
const PAST_THE_GRACE_MS = 4_000 + 1_000;

/** A visitor of their own (a browser context: their own cookies). */
async function visitor(browser: Browser, options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
	const context = await browser.newContext({ baseURL: test.info().project.use.baseURL, ...options });
	return context.newPage();
}

test.afterEach(async ({ browser }) => {
	for (const context of browser.contexts()) await context.close();
});

/** Starts the Express sandbox and waits for its JSON in the preview; the sandbox's ID. */
async function startToPreview(page: Page): Promise<string> {
	const id = await startSandbox(page);
	expect((await previewJson(page)).sandbox).toBe(id);
	return id;
}

/** Presses Stop sandbox, which leads back to the start page. */
async function stopSandbox(page: Page) {
	await page.getByRole('button', { name: 'Stop sandbox' }).click();
	await expect(page).toHaveURL('/');
}

test('visitors who closed their tab make room: the oldest unused sandbox is reclaimed, and its page says why', async ({ browser }) => {
	const [first, second, third] = [await visitor(browser), await visitor(browser), await visitor(browser)];
	const firstId = await startToPreview(first);
	await first.close();
	await startToPreview(second);
	await second.close();
	await new Promise((resolve) => setTimeout(resolve, PAST_THE_GRACE_MS));

	await startToPreview(third);

	// The first visitor comes back: their sandbox made room, and one click starts a fresh one (which
	// reclaims the second's, unused as long).
	const back = await first.context().newPage();
	await back.goto(`/sandbox/${firstId}`);
	await expect(back.getByRole('status').filter({ hasText: 'This sandbox has stopped.' })).toContainText(
		/It was stopped to make room for another visitor, after \d+ seconds without use\./
	);
	await back.getByRole('button', { name: 'Start a fresh sandbox' }).click();
	await expect(preview(back).locator('body')).toContainText('Hello from sandbox');
	expect(back.url()).not.toContain(firstId);

	await stopSandbox(third);
	await stopSandbox(back);
});

test('with every sandbox watched, a newcomer is told at once that all are busy, with and without JavaScript', async ({ browser }) => {
	const watchers = [await visitor(browser), await visitor(browser)];
	for (const page of watchers) await startToPreview(page);
	// Long enough that unwatched sandboxes would be reclaimed: open, visible tabs keep theirs.
	await new Promise((resolve) => setTimeout(resolve, PAST_THE_GRACE_MS));

	const newcomer = await visitor(browser);
	await newcomer.goto('/');
	const answer = newcomer.waitForResponse((response) => response.request().method() === 'POST');
	await newcomer.getByRole('button', { name: 'Start a sandbox' }).click();
	// (An enhanced form's action answers 200, with the failure's status inside.)
	expect(await (await answer).json()).toMatchObject({ type: 'failure', status: 503 });
	await expect(newcomer.getByRole('alert')).toContainText('All sandboxes are busy right now');
	await expect(newcomer).toHaveURL('/');

	const browserWithoutJs = await browser.browserType().launch(chromiumLaunchOptions(['--blink-settings=scriptEnabled=false']));
	try {
		const plain = await visitor(browserWithoutJs, { javaScriptEnabled: false });
		await plain.goto('/');
		const plainAnswer = plain.waitForResponse((response) => response.request().method() === 'POST');
		await plain.getByRole('button', { name: 'Start a sandbox' }).click();
		const response = await plainAnswer;
		expect(response.status()).toBe(503);
		expect(Number(response.headers()['retry-after'])).toBeGreaterThanOrEqual(1);
		await expect(plain.getByRole('alert')).toContainText('All sandboxes are busy right now');
	} finally {
		await browserWithoutJs.close();
	}

	// The watched sandboxes were never taken.
	for (const page of watchers) {
		await expect(page.locator('[data-status="ready"]')).toBeVisible();
		await expect(preview(page).locator('body')).toContainText('Hello from sandbox');
		await stopSandbox(page);
	}
});
