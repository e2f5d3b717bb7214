/**
 * The terminal under the preview: a real shell in the sandbox, typed into through xterm.js in the
 * page; sized to its box; owner only; gone with the tab. And what a visitor does with it: edit the
 * app, restart it, and be told why it did not come back.
 */
import { expect, test, type Page } from '@playwright/test';
import WebSocket from 'ws';
import { preview, runningInside, startSandbox, visitorCookieOf } from './helpers.ts';

const screen = (page: Page) => page.getByRole('region', { name: 'Terminal' }).locator('.xterm-rows');

async function openTerminal(page: Page) {
	await page.getByRole('button', { name: 'Open a terminal' }).click();
	await expect(page.getByText('connected', { exact: true })).toBeVisible();
	await focusTerminal(page);
}

/** Puts the keyboard back in the terminal (after a click elsewhere in the page). */
async function focusTerminal(page: Page) {
	await page.getByRole('region', { name: 'Terminal' }).locator('.xterm-helper-textarea').focus();
}

test("a shell in the app's folder answers what is typed, at the size of its box", async ({ page }) => {
	await page.setViewportSize({ width: 1280, height: 900 });
	await startSandbox(page);
	await openTerminal(page);
	// Worked out by the shell, so not an echo of the keys.
	await page.keyboard.type('echo "sum=$((6*7))"; pwd; ls\n');
	await expect(screen(page)).toContainText('sum=42');
	await expect(screen(page)).toContainText('/workspace/app');
	await expect(screen(page)).toContainText('server.js');

	await page.keyboard.type('stty size\n');
	await expect.poll(() => columnsShown(page)).toBeGreaterThan(100);
	const wide = await columnsShown(page);
	await page.setViewportSize({ width: 700, height: 900 });
	await page.keyboard.type('clear; stty size\n');
	await expect.poll(() => columnsShown(page)).toBeLessThan(wide - 30);
});

test('a page older than the app says so when its terminal cannot load, and a reload opens one', async ({ page }, testInfo) => {
	test.skip(testInfo.project.name !== 'worker', "a deploy replaces the built app's code; the page does not depend on the runtime");
	await startSandbox(page);
	// The terminal's code is fetched on first use: after a deploy, this page's chunks are gone.
	await page.route(/\.js(\?.*)?$/, (route) => route.abort());
	await page.getByRole('button', { name: 'Open a terminal' }).click();
	await expect(page.getByRole('region', { name: 'Terminal' }).getByRole('status')).toHaveText(/could not be loaded: .* Reload the page/);
	await page.unroute(/\.js(\?.*)?$/);
	await page.getByRole('button', { name: 'Reload the page' }).click();
	await openTerminal(page);
});

test('closing the tab ends the shell and what runs in it', async ({ page }) => {
	const id = await startSandbox(page);
	await openTerminal(page);
	await page.keyboard.type('sleep 424242\n');
	await expect.poll(() => runningInside(id, 'sleep 424242').length).toBe(1);
	await page.close();
	await expect.poll(() => runningInside(id, 'sleep 424242').length, { timeout: 15_000 }).toBe(0);
});

test("another visitor's browser, or another site, cannot open the terminal", async ({ page, browser, baseURL }) => {
	const id = await startSandbox(page);
	await expect(page.getByRole('button', { name: 'Open a terminal' })).toBeVisible();
	const url = `${baseURL!.replace(/^http/, 'ws')}/api/sandbox/${id}/terminal`;
	const owner = await visitorCookieOf(page);

	const stranger = await browser.newContext();
	try {
		const strangerPage = await stranger.newPage();
		await strangerPage.goto('/');
		const outcome = await strangerPage.evaluate(
			(address) =>
				new Promise<string>((resolve) => {
					const socket = new WebSocket(address);
					socket.onopen = () => resolve('opened');
					socket.onerror = () => resolve('refused');
				}),
			url
		);
		expect(outcome).toBe('refused');
	} finally {
		await stranger.close();
	}
	// The owner's cookie, sent from another origin (a page elsewhere opening the socket): refused.
	expect(await handshake(url, { cookie: owner, origin: 'http://evil.example' })).toBe(403);
	expect(await handshake(url, { origin: new URL(baseURL!).origin })).toBe(404);
	expect(await handshake(`${url}?cols=100000`, { cookie: owner, origin: new URL(baseURL!).origin })).toBe(400);
});

test.describe('an app edited in the terminal and restarted', () => {
	// One visitor, sandbox and terminal for the three, in this order: the first mends what it broke.
	test.describe.configure({ mode: 'serial' });
	let page: Page;
	test.beforeAll(async ({ browser }) => {
		page = await (await browser.newContext()).newPage();
		await startSandbox(page);
		await openTerminal(page);
	});
	test.afterAll(() => page?.context().close());

	test('that exits at once: the page says with which code and shows what it wrote; mended, it comes back', async () => {
		await page.keyboard.type(`printf 'console.error("boom: no config");\\nprocess.exit(3);\\n' > server.js && echo edited\n`);
		await expect.poll(() => linesShown(page)).toContain('edited');
		await page.getByRole('button', { name: 'Restart the app' }).click();
		const problem = page.getByRole('alert');
		await expect(problem).toContainText('The app exited with code 3 before it was ready.');
		await expect(problem.locator('pre')).toHaveText('boom: no config');
		await expect(page.getByText('Boot steps')).toBeVisible();
		// The sandbox runs on, and so does the terminal: the visitor puts the file back and restarts.
		await focusTerminal(page);
		await page.keyboard.type('cp /templates/express/server.js . && echo mended\n');
		await expect.poll(() => linesShown(page)).toContain('mended');
		await page.getByRole('button', { name: 'Restart the app' }).click();
		await expect(preview(page).locator('body')).toContainText('Hello from sandbox', { timeout: 30_000 });
		await expect(problem).toHaveCount(0);
	});

	test('that still works: it comes back with its edit, at the same preview URL, with the terminal still open', async () => {
		const before = await page.locator('.ready .bar code').innerText();
		await focusTerminal(page);
		await page.keyboard.type(`sed -i 's/Hello from sandbox/Restarted sandbox/' server.js && echo edited again\n`);
		await expect.poll(() => linesShown(page)).toContain('edited again');
		await page.getByRole('button', { name: 'Restart the app' }).click();
		await expect(preview(page).locator('body')).toContainText('Restarted sandbox', { timeout: 30_000 });
		expect(await page.locator('.ready .bar code').innerText()).toBe(before);
		await focusTerminal(page);
		await page.keyboard.type('echo "still $((20+22))"\n');
		await expect.poll(() => linesShown(page)).toContain('still 42');
	});

	test('that listens on 127.0.0.1 only: the page says so, with the address', async () => {
		await focusTerminal(page);
		await page.keyboard.type(`sed -i "s/'0.0.0.0'/'127.0.0.1'/" server.js && echo bound to loopback\n`);
		await expect.poll(() => linesShown(page)).toContain('bound to loopback');
		await page.getByRole('button', { name: 'Restart the app' }).click();
		await expect(page.getByRole('alert')).toContainText('The app listens on 127.0.0.1:3001 only');
		await expect(page.getByRole('alert')).toContainText('Make it listen on 0.0.0.0');
	});
});

test('an app stopped from the terminal: the preview and the page say so, with its last lines', async ({ page }) => {
	await startSandbox(page);
	await openTerminal(page);
	await page.keyboard.type(`pkill -f 'node server.js' && echo stopped\n`);
	await expect.poll(() => linesShown(page)).toContain('stopped');
	await page.reload();
	await expect(preview(page).getByRole('alert')).toHaveText(/The app's process was stopped by a signal/);
	await expect(preview(page).locator('pre')).toContainText('express listening on 0.0.0.0:3001');
	const problem = page.getByRole('alert');
	await expect(problem).toContainText("The preview cannot show the app. The app's process was stopped by a signal");
	await expect(problem.locator('pre')).toContainText('express listening on 0.0.0.0:3001');
});

/** The terminal's lines as shown (its text content runs them together). */
async function linesShown(page: Page): Promise<string[]> {
	return (await screen(page).innerText()).split('\n').map((line) => line.trim());
}

/** The width `stty size` printed last ("rows cols"). */
async function columnsShown(page: Page): Promise<number> {
	const sizes = [...(await screen(page).innerText()).matchAll(/^(\d+) (\d+)$/gm)];
	return Number(sizes.at(-1)?.[2] ?? NaN);
}

/** The status a WebSocket handshake is answered with (101 when it opens). */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
	return new Promise((resolve, reject) => {
		const socket = new WebSocket(url, { headers });
		socket.on('open', () => {
			socket.close();
			resolve(101);
		});
		socket.on('unexpected-response', (_, response) => resolve(response.statusCode ?? 0));
		socket.on('error', reject);
	});
}
