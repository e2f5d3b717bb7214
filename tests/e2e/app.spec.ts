import { expect, test, type Page } from '@playwright/test';
import { containerOf, fetchPreview, openPreview, previewCookie, previewJson, SANDBOX_PATH, shownPreviewUrl, startSandbox, visitorCookieOf } from './helpers.ts';

test.describe('with JavaScript', () => {
	test('shows live progress, then the Express JSON in the iframe, over one WebSocket and no polling', async ({ page }) => {
		const sockets: string[] = [];
		const polls: string[] = [];
		page.on('websocket', (socket) => {
			if (socket.url().includes('/api/sandbox/')) sockets.push(socket.url());
		});
		page.on('request', (request) => {
			if (/\/api\/sandbox\/[^/]+\/state/.test(request.url())) polls.push(request.url());
		});

		// (A page that loads after the boot is done has no progress to show.)
		const id = await startSandbox(page, 'Express API', { waitUntil: 'networkidle' });
		await expect(page.getByRole('list', { name: 'Boot progress' })).toBeVisible();
		const json = await previewJson(page);
		expect(json).toMatchObject({ sandbox: id, message: `Hello from sandbox ${id}` });

		const appHost = new URL(page.url()).host;
		expect(await shownPreviewUrl(page)).toMatch(new RegExp(`^http://3001-${id}-[a-z0-9_]+\\.${appHost.replace('.', '\\.')}/$`));
		// The preview is private: the iframe and the new tab go in through the app.
		await expect(page.locator('iframe')).toHaveAttribute('src', `/sandbox/${id}/preview`);
		await expect(page.getByRole('link', { name: /Open in a new tab/ })).toHaveAttribute('href', `/sandbox/${id}/preview`);
		await expect(page.getByRole('status')).toHaveText('The sandbox is ready.');
		expect(sockets).toHaveLength(1);
		expect(polls).toEqual([]);
	});

	test('a status WebSocket that drops after its first message, with every reconnect failing, hands over to polling', async ({ page }, testInfo) => {
		test.skip(testInfo.project.name === 'isolates', "the page's fallback, over the same routes as on the worker: two isolates add nothing to it");
		let connections = 0;
		let spoke = false;
		await page.routeWebSocket(/\/api\/sandbox\/[^/]+\/ws$/, (socket) => {
			if (++connections > 1) return socket.close(); // every reconnect: accepted, then closed without a word
			const server = socket.connectToServer();
			server.onMessage((message) => {
				if (spoke) return;
				spoke = true;
				// The server's first message, as a socket gets it while the boot runs: an Express boot can
				// finish before the page's socket connects, so the state is passed on as still initializing,
				// as the one before it (a version older, so that the polls' answer is newer).
				const { state, version } = JSON.parse(String(message));
				socket.send(JSON.stringify({ type: 'progress', state: { ...state, status: 'initializing', previewUrl: null }, version: version - 1 }));
				socket.close();
				server.close();
			});
		});
		const polls: string[] = [];
		page.on('request', (request) => {
			if (/\/api\/sandbox\/[^/]+\/state/.test(request.url())) polls.push(request.url());
		});

		const id = await startSandbox(page);
		expect((await previewJson(page)).sandbox).toBe(id);
		expect(spoke).toBe(true);
		expect(connections).toBeGreaterThan(1);
		expect(polls.length).toBeGreaterThan(0);
	});

	test('a page whose status socket died without a word learns what became of its sandbox when its tab is looked at again', async ({ page, baseURL }, testInfo) => {
		test.skip(testInfo.project.name !== 'worker', "the page's own code, whichever runtime serves it");
		// The socket stays open but passes nothing on after the first message, as a connection that
		// died under a sleeping laptop looks to the page.
		let silent = false;
		await page.routeWebSocket(/\/api\/sandbox\/[^/]+\/ws$/, (socket) => {
			const server = socket.connectToServer();
			server.onMessage((message) => {
				if (!silent) socket.send(message);
			});
		});
		const id = await startSandbox(page);
		const shown = page.locator('[data-status]');
		await expect(shown).toHaveAttribute('data-status', 'ready');
		silent = true;
		// Stopped behind the page's back: another tab's Stop.
		const stop = await page.request.post(`/sandbox/${id}?/stop`, { headers: { origin: baseURL!, accept: 'text/html' }, form: {}, maxRedirects: 0 });
		expect(stop.status()).toBe(303);
		await page.waitForTimeout(1000);
		await expect(shown).toHaveAttribute('data-status', 'ready');

		// The visitor comes back to the tab.
		await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
		await expect(shown).toHaveAttribute('data-status', 'stopped');
		await expect(page.getByRole('heading', { level: 1 })).toContainText('stopped');
	});
});

test.describe("one visitor's ready sandbox, from every side", () => {
	// One Express sandbox for the tests below, in this order: the last one stops it.
	test.describe.configure({ mode: 'serial' });
	let page: Page;
	let id: string;
	test.beforeAll(async ({ browser }) => {
		page = await (await browser.newContext()).newPage();
		id = await startSandbox(page);
		await previewJson(page);
	});
	test.afterAll(() => page?.context().close());

	test("a preview host gets the sandbox's answer for every path, never the app's files", async () => {
		const tab = await page.context().newPage();
		for (const path of ['/favicon.svg', '/robots.txt', '/@vite/client', '/src/app.html']) {
			const response = await openPreview(tab, id, path);
			expect(response!.status(), path).toBe(404);
			expect(await response!.text(), path).toContain(`Cannot GET ${path}`);
		}
		const health = await openPreview(tab, id, '/health');
		expect(await health!.json()).toMatchObject({ ok: true });
		await tab.close();
	});

	test("a cacheable response from the sandbox is never served from the app's cache, nor kept by the browser without asking again", async ({ baseURL }) => {
		const previewUrl = await shownPreviewUrl(page);
		const cookie = await previewCookie(baseURL!, await visitorCookieOf(page), id);
		const first = await fetchPreview(previewUrl, cookie);
		const second = await fetchPreview(previewUrl, cookie);
		expect(JSON.parse(second.body).visits).toBe(JSON.parse(first.body).visits + 1);
		// The app asks for a minute of caching (max-age=60): the preview tells the browser to revalidate.
		expect(second.headers['cache-control']).toBe('no-cache');
	});

	test("the sandbox never sees the app's cookies or the preview cookie", async ({ baseURL }) => {
		const cookie = await previewCookie(baseURL!, await visitorCookieOf(page), id);
		const echoed = await fetchPreview(`${await shownPreviewUrl(page)}request`, `${cookie}; ${await visitorCookieOf(page)}; theirs=kept`);
		expect(echoed.status).toBe(200);
		expect(JSON.parse(echoed.body).headers.cookie).toBe('theirs=kept');
	});

	test('the status WebSocket only sends: a message from the browser closes it with 1008', async () => {
		const closeCode = await page.evaluate(
			(id) =>
				new Promise<number>((resolve) => {
					const socket = new WebSocket(`ws://${location.host}/api/sandbox/${id}/ws`);
					socket.onmessage = () => socket.send('{"type":"ping"}');
					socket.onclose = (event) => resolve(event.code);
				}),
			id
		);
		expect(closeCode).toBe(1008);
	});

	test('the preview is private: a stranger gets 401, the owner opens it, and the owner can make it public and private again', async ({ browser }) => {
		const previewUrl = await shownPreviewUrl(page);
		const stranger = await browser.newContext();
		try {
			const strangerPage = await stranger.newPage();
			const refused = await strangerPage.goto(previewUrl);
			expect(refused!.status()).toBe(401);
			await expect(strangerPage.locator('body')).toContainText('This preview is private');
			// Nor can a stranger go in through the app (the sandbox is not theirs), or reuse a ticket.
			expect((await strangerPage.goto(`/sandbox/${id}/preview`))!.status()).toBe(404);

			// The owner's new tab goes in through the app; its ticket works once.
			const tab = await page.context().newPage();
			const redirects: string[] = [];
			tab.on('request', (request) => redirects.push(request.url()));
			await tab.goto(`/sandbox/${id}/preview`);
			await expect(tab.locator('body')).toContainText(`Hello from sandbox ${id}`);
			const ticketUrl = redirects.find((url) => url.includes('/__preview_access?'))!;
			expect(ticketUrl).toBeTruthy();
			expect((await strangerPage.goto(ticketUrl))!.status()).toBe(403);
			expect((await strangerPage.goto(previewUrl))!.status()).toBe(401);
			await tab.close();

			await page.getByRole('button', { name: 'Make public' }).click();
			await expect(page.getByText('Public: anyone with the link can open it')).toBeVisible();
			await strangerPage.goto(previewUrl);
			await expect(strangerPage.locator('body')).toContainText(`Hello from sandbox ${id}`);

			await page.getByRole('button', { name: 'Make private' }).click();
			await expect(page.getByText('Private: only this browser can open it')).toBeVisible();
			// (Not `/` again: the stranger's browser may keep what it was shown while it was public.)
			expect((await strangerPage.goto(`${previewUrl}health`))!.status()).toBe(401);
			// The owner's iframe still shows the app.
			expect((await previewJson(page)).sandbox).toBe(id);
		} finally {
			await stranger.close();
		}
	});

	test('the stop button destroys the sandbox and its preview', async ({ baseURL }) => {
		const previewUrl = await shownPreviewUrl(page);
		const cookie = await previewCookie(baseURL!, await visitorCookieOf(page), id);
		await page.getByRole('button', { name: 'Stop sandbox' }).click();
		await page.waitForURL('/');
		// Its page says so, and its preview is gone, even for the browser that held its cookie.
		expect((await page.goto(`/sandbox/${id}/preview`))!.status()).toBe(409);
		const gone = await fetchPreview(previewUrl, cookie);
		expect(gone.status).toBe(404);
		expect(JSON.parse(gone.body)).toMatchObject({ code: 'INVALID_TOKEN' });
	});
});

test.describe('after the container goes away', () => {
	test('the preview wakes the sandbox up again under the same URL instead of staying dead', async ({ page }) => {
		const id = await startSandbox(page);
		const before = await previewJson(page);

		// Kill the sandbox's container from outside, as a crash or a restart would.
		process.kill(containerOf(id).bwrap, 'SIGKILL');

		const waking = await openPreview(page, id);
		expect(waking!.status()).toBe(503);
		await expect(page.locator('body')).toContainText('Waking it up');
		// The waking page refreshes itself until the app answers again, freshly booted.
		await expect(page.locator('body')).toContainText(`Hello from sandbox ${id}`, { timeout: 30_000 });
		const after = JSON.parse(await page.locator('body').innerText());
		expect(after.startedAt).not.toBe(before.startedAt);
	});
});

test.describe('two visitors', () => {
	test('get two different sandboxes, and neither can see or touch the other', async ({ browser }) => {
		const alice = await browser.newContext();
		const bob = await browser.newContext();
		try {
			const alicePage = await alice.newPage();
			const bobPage = await bob.newPage();
			const aliceId = await startSandbox(alicePage);
			const bobId = await startSandbox(bobPage);
			expect(aliceId).not.toBe(bobId);
			expect((await previewJson(alicePage)).sandbox).toBe(aliceId);
			expect((await previewJson(bobPage)).sandbox).toBe(bobId);

			// Bob asks for Alice's page, state, WebSocket and actions: 404, as if it did not exist.
			expect((await bobPage.goto(`/sandbox/${aliceId}`))!.status()).toBe(404);
			expect((await bob.request.get(`/api/sandbox/${aliceId}/state`)).status()).toBe(404);
			const stop = await bob.request.post(`/sandbox/${aliceId}?/stop`, {
				headers: { origin: new URL(bobPage.url()).origin, accept: 'text/html' },
				form: {}
			});
			expect(stop.status()).toBe(404);
			await bobPage.goto('/');
			const socketOutcome = await bobPage.evaluate(
				(id) =>
					new Promise<string>((resolve) => {
						const socket = new WebSocket(`ws://${location.host}/api/sandbox/${id}/ws`);
						socket.onmessage = () => resolve('message');
						socket.onerror = () => resolve('refused');
					}),
				aliceId
			);
			expect(socketOutcome).toBe('refused');

			// A forged or foreign ID is refused the same way.
			expect((await alice.request.get(`/api/sandbox/express-00000000000000000000000000/state`)).status()).toBe(404);
			// Alice's sandbox is untouched.
			expect((await alice.request.get(`/api/sandbox/${aliceId}/state`)).status()).toBe(200);
		} finally {
			await alice.close();
			await bob.close();
		}
	});
});

test.describe('an app host that is not localhost', () => {
	test("gets preview URLs on its own host, scheme and port (the SDK's would drop them)", async ({ page, baseURL }, testInfo) => {
		// Vite's dev server refuses hosts it does not know before the app sees them.
		test.skip(testInfo.project.name === 'vite-dev', "vite dev serves localhost hosts only");
		// Chromium resolves *.sandbox.test to this machine (playwright.config.ts): a name, not an address elsewhere.
		const app = `http://app.sandbox.test:${new URL(baseURL!).port}`;
		await page.goto(`${app}/`);
		await page.getByRole('button', { name: 'Start a sandbox' }).click();
		await page.waitForURL(SANDBOX_PATH);
		const id = SANDBOX_PATH.exec(page.url())![1];
		const json = await previewJson(page);
		expect(json.sandbox).toBe(id);
		expect(await shownPreviewUrl(page)).toMatch(new RegExp(`^http://3001-${id}-[a-z0-9_]+\\.app\\.sandbox\\.test:${new URL(baseURL!).port}/$`));
	});
});
