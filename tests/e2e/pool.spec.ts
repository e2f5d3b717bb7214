/**
 * The warm pool, as visitors meet it (the `pool` target: the worker keeping one Express sandbox
 * started ahead of visitors). The start page says when one is ready; a click takes it, its boot
 * already done; two visitors racing for it get different sandboxes; and however many start at
 * once, no more containers run than the pool's one and the visitors' own. Without JavaScript too.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import { bwrapProcesses } from '../helpers/host.ts';
import { previewJson, SANDBOX_PATH } from './helpers.ts';

const EXPRESS = 'Express API';

/** The Express choice on the start page. */
const expressChoice = (page: Page) => page.locator('label.choice', { hasText: EXPRESS });
const READY_NOW = 'One is started already: yours at once.';

/** The start page, once it says that an Express sandbox is ready (viewing it fills the pool). */
async function poolReady(page: Page) {
	await expect(async () => {
		await page.goto('/');
		await expect(expressChoice(page)).toContainText(READY_NOW, { timeout: 500 });
	}).toPass({ timeout: 60_000, intervals: [500] });
}

async function clickStart(page: Page): Promise<string> {
	await expressChoice(page).click();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await page.waitForURL(SANDBOX_PATH);
	return SANDBOX_PATH.exec(page.url())![1];
}

/** The sandboxes whose containers run in this target's engine (one bwrap per container). */
function runningContainers(): number {
	const dirs = bwrapProcesses()
		.filter((p) => p.cmdline.includes('/sandbox-e2e-pool-'))
		.map((p) => /(\S+\/sandboxes\/\d+)\//.exec(p.cmdline)?.[1]);
	return new Set(dirs.filter(Boolean)).size;
}

async function visitors(browser: Browser, count: number) {
	return Promise.all(Array.from({ length: count }, async () => (await browser.newContext()).newPage()));
}

async function stop(page: Page) {
	await page.getByRole('button', { name: 'Stop sandbox' }).click();
	await page.waitForURL('/');
}

test("a click takes the sandbox started ahead of time: its boot's steps take no time, and its preview is the visitor's", async ({ page }) => {
	await poolReady(page);
	const requests: string[] = [];
	page.on('request', (request) => requests.push(new URL(request.url()).pathname));
	const id = await clickStart(page);
	expect(await previewJson(page)).toMatchObject({ sandbox: id });
	// The page came with a ticket: its iframe went straight to the preview host, not through the app.
	expect(requests.filter((path) => path === '/__preview_access')).toHaveLength(1);
	expect(requests).not.toContain(`/sandbox/${id}/preview`);
	// Drawn again with its spent ticket, the iframe still shows the app: the browser has the cookie.
	const spent = page.waitForResponse((response) => new URL(response.url()).pathname === '/__preview_access');
	const app = page.waitForResponse((response) => response.frame() !== page.mainFrame() && new URL(response.url()).pathname === '/');
	await page.locator('iframe').evaluate((iframe: HTMLIFrameElement) => (iframe.src = `${iframe.src}&again`));
	expect((await spent).status()).toBe(303);
	expect((await app).status()).toBe(200);
	expect(await previewJson(page)).toMatchObject({ sandbox: id });

	await page.getByText('Boot steps').click();
	const steps = page.locator('.steps.compact li');
	for (const label of ['Starting the sandbox', 'Copying the app into the sandbox']) {
		await expect(steps.filter({ hasText: label })).toContainText('0.0 s');
	}
	await expect(steps.last()).toContainText('Exposing the preview URL');
	await stop(page);
});

test('two visitors racing for its one sandbox get different ones, both running', async ({ browser }) => {
	const [alice, bob] = await visitors(browser, 2);
	await poolReady(alice);
	await poolReady(bob);
	const ids = await Promise.all([clickStart(alice), clickStart(bob)]);
	expect(ids[0]).not.toBe(ids[1]);
	expect(await previewJson(alice)).toMatchObject({ sandbox: ids[0] });
	expect(await previewJson(bob)).toMatchObject({ sandbox: ids[1] });
	// Each is its owner's alone.
	expect((await alice.request.get(`/api/sandbox/${ids[1]}/state`)).status()).toBe(404);
	await Promise.all([stop(alice), stop(bob)]);
	await Promise.all([alice.context().close(), bob.context().close()]);
});

test("after a burst of starts, the containers are the visitors' and the pool's one, no more", async ({ browser }) => {
	const [watcher, ...pages] = await visitors(browser, 5);
	await poolReady(watcher);
	for (const page of pages) await page.goto('/');
	const ids = await Promise.all(pages.map(clickStart));
	expect(new Set(ids).size).toBe(4);
	for (const [i, page] of pages.entries()) expect(await previewJson(page)).toMatchObject({ sandbox: ids[i] });
	// The pool refills its one, and nothing else starts.
	await poolReady(watcher);
	expect(runningContainers()).toBe(5);
	await Promise.all(pages.map(stop));
	await expect.poll(runningContainers, { timeout: 20_000 }).toBe(1);
	await Promise.all([watcher, ...pages].map((page) => page.context().close()));
});

test('without JavaScript, the start page says one is ready, and the click lands on a page with its preview already in it', async ({ browser }) => {
	const context = await browser.newContext({ javaScriptEnabled: false });
	const page = await context.newPage();
	await poolReady(page);
	const id = await clickStart(page);
	// The first page the form's redirect loads, not one of the status page's own reloads.
	expect(await page.locator('h1 .badge').innerText()).toBe('ready');
	expect(await previewJson(page)).toMatchObject({ sandbox: id });
	await stop(page);
	await context.close();
});
