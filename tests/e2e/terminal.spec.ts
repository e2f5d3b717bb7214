/**
 * The terminal under the preview: a real shell in the sandbox, typed into through xterm.js in the
 * page; sized to its box; owner only; gone with the tab.
 */
import { expect, test, type Page } from '@playwright/test';
import WebSocket from 'ws';
import { liveProcesses } from '../helpers/host.ts';
import { containerOf, startSandbox, visitorCookieOf } from './helpers.ts';

const screen = (page: Page) => page.locator('.terminal .xterm-rows');

async function openTerminal(page: Page) {
	await page.getByRole('button', { name: 'Open a terminal' }).click();
	await expect(page.getByText('connected', { exact: true })).toBeVisible();
	await page.locator('.terminal .xterm-helper-textarea').focus();
}

/** Processes inside the sandbox's container whose command line is exactly `command`. */
function runningInside(id: string, command: string) {
	const namespace = liveProcesses().find((p) => p.pid === containerOf(id).inside)!.pidNamespace;
	return liveProcesses().filter((p) => p.pidNamespace === namespace && p.cmdline === command);
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
