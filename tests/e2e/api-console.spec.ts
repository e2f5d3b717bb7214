/**
 * The Hono template and its API console, as its owner uses them: the preview shows the open index
 * while the API answers 401 to it; the console calls the API with the sandbox's token (which the
 * page never holds), shows status, headers and body, and Server-Sent Events as they arrive.
 * (Without JavaScript, the same form posts: no-javascript.spec.ts.)
 */
import { expect, test, type Page } from '@playwright/test';
import { answer, appEnvironment, fetchPreview, openPreview, preview, previewCookie, readyHono, shownPreviewUrl, statusLine, visitorCookieOf } from './helpers.ts';

test.describe('with JavaScript', () => {
	// One visitor and their Hono sandbox for the three tests (each sets the console as it needs it).
	test.describe.configure({ mode: 'serial' });
	let page: Page;
	let id: string;
	test.beforeAll(async ({ browser }) => {
		page = await (await browser.newContext()).newPage();
		id = await readyHono(page);
	});
	test.afterAll(() => page?.context().close());

	test('the console calls the API with the token, and without it gets 401; the token never reaches the page', async ({ baseURL }) => {
		await expect(preview(page).getByRole('heading')).toHaveText(`Hono API in sandbox ${id}`);

		await page.getByRole('button', { name: 'POST /api/notes' }).click();
		await expect(statusLine(page)).toHaveText('201 Created');
		await page.getByRole('button', { name: 'GET /api/notes' }).click();
		await expect(statusLine(page)).toHaveText('200 OK');
		await expect(answer(page).locator('pre')).toContainText('"text": "Hello from the console"');
		await answer(page).getByText('Headers').click();
		await expect(answer(page).locator('dt', { hasText: 'content-type' })).toBeVisible();

		await page.getByLabel("Send the sandbox's token").uncheck();
		await page.getByRole('button', { name: 'Send' }).click();
		await expect(statusLine(page)).toHaveText('401 Unauthorized');
		await expect(answer(page).locator('pre')).toContainText('This API needs an Authorization: Bearer token.');

		// The token is the app process's alone: nowhere in the page, nor in what the page was sent.
		const token = appEnvironment(id, 'node server.js').API_TOKEN;
		expect(token).toMatch(/^[0-9a-f]{64}$/);
		expect(await page.content()).not.toContain(token);
		const state = await page.request.get(`${baseURL}/api/sandbox/${id}/state`);
		expect(await state.text()).not.toContain(token);

		// The preview is the public face: its API answers 401, to the owner's browser too (in a tab of its own).
		const tab = await page.context().newPage();
		await openPreview(tab, id, '/api/notes');
		await expect(tab.locator('body')).toContainText('This API needs an Authorization: Bearer token.');
		await tab.close();
	});

	test('Server-Sent Events arrive in order and live, and the end of the stream is said', async () => {
		await page.getByLabel("Send the sandbox's token").check();
		await page.getByLabel('Path').fill('/api/events?count=5&interval=400');
		await page.getByRole('button', { name: 'Send' }).click();
		const events = answer(page).getByRole('list', { name: 'Events' }).locator('li');
		// Live: the first events show while the stream is still open.
		await expect(events.first()).toContainText('tick #1');
		await expect(answer(page).getByText('Receiving events…')).toBeVisible();
		expect(await events.count()).toBeLessThan(6);

		await expect(answer(page).getByText('The app ended the stream after 6 events.')).toBeVisible();
		await expect(events).toHaveCount(6);
		const names = await events.locator('.event-name').allInnerTexts();
		expect(names).toEqual(['tick #1', 'tick #2', 'tick #3', 'tick #4', 'tick #5', 'done']);
		await expect(answer(page).getByText('Receiving events…')).toHaveCount(0);
	});

	test('a raw request to the preview API gets 401, while its open pages answer', async ({ baseURL }) => {
		const previewUrl = await shownPreviewUrl(page);
		const cookie = await previewCookie(baseURL!, await visitorCookieOf(page), id);
		expect((await fetchPreview(new URL('/api/notes', previewUrl).href, cookie)).status).toBe(401);
		expect((await fetchPreview(new URL('/health', previewUrl).href, cookie)).status).toBe(200);
	});
});
