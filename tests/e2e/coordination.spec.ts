/**
 * What the coordinators and start gates promise, against two isolates in turn (the `isolates`
 * target, whose short TTL and low limits are in isolates/settings.ts): one live sandbox per
 * visitor, start limits per visitor and per client address with and without JavaScript, a cap on
 * the sandboxes running from one client address, and an idle TTL that a visible tab holds off and
 * a closed one does not.
 */
import { expect, test, type APIRequestContext } from '@playwright/test';
import { ISOLATE_SETTINGS } from './isolates/settings.ts';
import { hasContainer, idleStopped, previewJson, SANDBOX_PATH, startSandbox } from './helpers.ts';

const { ttlSeconds, visitorStartsPerMinute, addressStartsPerMinute, addressLiveSandboxes } = ISOLATE_SETTINGS;

/** A start as a form without JavaScript posts it: the status, the sandbox it redirected to, and the page. */
async function postStart(request: APIRequestContext, baseURL: string, headers: Record<string, string> = {}) {
	const response = await request.post('/?/start', {
		headers: { origin: baseURL, accept: 'text/html', ...headers },
		form: { template: 'express' },
		maxRedirects: 0
	});
	const location = response.headers()['location'] ?? '';
	return { status: response.status(), id: SANDBOX_PATH.exec(location)?.[1] ?? null, retryAfter: response.headers()['retry-after'], text: await response.text() };
}

test('a sixth start by one visitor leaves one sandbox, not six; the next is refused with 429 and says when to retry', async ({ page, request, baseURL }) => {
	const ids: string[] = [];
	for (let i = 0; i < visitorStartsPerMinute; i++) {
		ids.push(await startSandbox(page));
		await expect(page.getByRole('status')).toHaveText('The sandbox is ready.');
	}
	expect(new Set(ids).size).toBe(visitorStartsPerMinute);
	expect(ids.filter(hasContainer)).toEqual([ids.at(-1)]);
	await page.goto(`/sandbox/${ids[0]}`);
	await expect(page.getByText('This sandbox has stopped. You started another sandbox, which replaced it.')).toBeVisible();

	// One more, with JavaScript: the form says why, and nothing is made.
	await page.goto('/');
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await expect(page.getByRole('alert')).toContainText(/Too many sandboxes started in a short time\. Please try again in \d+ s\./);
	expect(page.url()).toBe(`${baseURL}/`);

	// And as a form without JavaScript: a 429 page with Retry-After.
	const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
	const refused = await postStart(request, baseURL!, { cookie });
	expect(refused.status).toBe(429);
	expect(Number(refused.retryAfter)).toBeGreaterThan(0);
	expect(refused.text).toContain('Too many sandboxes started in a short time');
	expect(ids.filter(hasContainer)).toEqual([ids.at(-1)]);
});

test('a burst of starts by one visitor gets 429s, and leaves one sandbox', async ({ playwright, baseURL }) => {
	const visitor = await playwright.request.newContext({ baseURL });
	// A first start gives the visitor their cookie, so that every start of the burst is theirs.
	const first = await postStart(visitor, baseURL!);
	expect(first.status).toBe(303);
	const burst = await Promise.all(Array.from({ length: visitorStartsPerMinute + 2 }, () => postStart(visitor, baseURL!)));
	const started = [first.id!, ...burst.filter((r) => r.status === 303).map((r) => r.id!)];
	const refused = burst.filter((r) => r.status === 429);
	expect(started).toHaveLength(visitorStartsPerMinute);
	expect(refused).toHaveLength(3);
	for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThan(0);
	await expect.poll(() => started.filter(hasContainer).length, { timeout: 30_000 }).toBe(1);
	await visitor.dispose();
});

test('starts from one client address are limited too, whoever the visitors are', async ({ playwright, baseURL }) => {
	const address = { 'x-test-client-address': '192.0.2.44' };
	const results = [];
	for (let i = 0; i < addressStartsPerMinute + 2; i++) {
		const visitor = await playwright.request.newContext({ baseURL, extraHTTPHeaders: address });
		const result = await postStart(visitor, baseURL!);
		results.push(result);
		// Each stops the sandbox at once: what is limited here is the rate of starts, not how many run.
		if (result.id) await visitor.post(`/sandbox/${result.id}?/stop`, { headers: { origin: baseURL!, accept: 'text/html' }, form: {}, maxRedirects: 0 });
		await visitor.dispose();
	}
	expect(results.map((r) => r.status)).toEqual([...Array(addressStartsPerMinute).fill(303), 429, 429]);
	expect(results.at(-1)!.text).toContain('Too many sandboxes started in a short time');
});

test('a client that drops its cookie before every start cannot take every slot: sandboxes running from one address are capped', async ({ browser, playwright, baseURL }) => {
	// Each browser context is a new visitor, as a client without its cookie is; all from one address.
	const address = { 'x-test-client-address': '192.0.2.77' };
	const contexts = await Promise.all(Array.from({ length: addressLiveSandboxes + 1 }, () => browser.newContext({ extraHTTPHeaders: address })));
	try {
		const pages = await Promise.all(contexts.map((context) => context.newPage()));
		for (const page of pages.slice(0, addressLiveSandboxes)) {
			await startSandbox(page);
			await expect(page.getByRole('status')).toHaveText('The sandbox is ready.');
		}
		// One more visitor from there, with JavaScript: refused at once, saying why.
		const last = pages.at(-1)!;
		await last.goto('/');
		await last.getByRole('button', { name: 'Start a sandbox' }).click();
		await expect(last.getByRole('alert')).toContainText('Too many sandboxes are running from your network right now');
		// And without JavaScript: a 429 page with Retry-After.
		const visitor = await playwright.request.newContext({ baseURL, extraHTTPHeaders: address });
		const refused = await postStart(visitor, baseURL!);
		await visitor.dispose();
		expect(refused.status).toBe(429);
		expect(Number(refused.retryAfter)).toBeGreaterThan(0);
		expect(refused.text).toContain('Too many sandboxes are running from your network right now');
		// Another address is not affected, and a visitor who already runs one may replace it.
		const elsewhere = await playwright.request.newContext({ baseURL, extraHTTPHeaders: { 'x-test-client-address': '192.0.2.78' } });
		expect((await postStart(elsewhere, baseURL!)).status).toBe(303);
		await elsewhere.dispose();
		await startSandbox(pages[0]);
		await expect(pages[0].getByRole('status')).toHaveText('The sandbox is ready.');

		// Once one of them is stopped, the waiting visitor gets theirs.
		await pages[1].getByRole('button', { name: 'Stop sandbox' }).click();
		await pages[1].waitForURL('/');
		const id = await startSandbox(last);
		expect((await previewJson(last)).sandbox).toBe(id);
	} finally {
		await Promise.all(contexts.map((context) => context.close()));
	}
});

test('a visible tab keeps its sandbox past the idle TTL; once it is closed, the TTL lets the sandbox go', async ({ page, request }) => {
	test.setTimeout(120_000);
	const id = await startSandbox(page);
	await previewJson(page);
	// Past the TTL and the alarm's slack: only the tab's heartbeats use the sandbox meanwhile.
	await page.waitForTimeout((ttlSeconds + 5) * 1000);
	await expect(page.getByRole('status')).toHaveText('The sandbox is ready.');
	expect(hasContainer(id)).toBe(true);

	const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
	await page.close();
	await idleStopped(id, ttlSeconds);
	const { state } = await (await request.get(`/api/sandbox/${id}/state`, { headers: { cookie } })).json();
	expect(state).toMatchObject({ status: 'stopped', error: { message: expect.stringContaining('without use') } });
});
