/**
 * On `localhost` the preview iframe is another site than the app's page, so its cookie is a
 * third-party cookie — one that browsers blocking them keep only if it is partitioned
 * (preview-access.ts). Chromium blocks them in a private window, which is what Playwright's contexts
 * are; its headless shell, which the other specs run in, blocks none. This spec runs in the full
 * browser (playwright.config.ts), against the worker.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { previewJson, startSandbox } from './helpers.ts';

/** A page that frames another site, which sets an unpartitioned cookie and then shows what comes back. */
let crossSite: Server;
test.beforeAll(async () => {
	crossSite = createServer((request, response) => {
		const { port } = crossSite.address() as AddressInfo;
		response.setHeader('content-type', 'text/html');
		if (request.url === '/') return response.end(`<iframe src="http://frame.localhost:${port}/set"></iframe>`);
		if (request.url === '/set') {
			response.setHeader('set-cookie', 'probe=1; Path=/; SameSite=None; Secure; HttpOnly');
			return response.end(`<script>location = '/shown'</script>`);
		}
		response.end(`<output>${request.headers.cookie ?? 'no cookie'}</output>`);
	});
	await new Promise<void>((listening) => crossSite.listen(0, '127.0.0.1', listening));
});
test.afterAll(async () => {
	const closed = new Promise<void>((done) => crossSite.close(() => done()));
	crossSite.closeAllConnections();
	await closed;
});

test('in a browser that blocks third-party cookies, the owner still gets into the private preview', async ({ page }) => {
	// This browser does block them: the framed site's cookie never comes back.
	await page.goto(`http://localhost:${(crossSite.address() as AddressInfo).port}/`);
	await expect(page.frameLocator('iframe').locator('output')).toHaveText('no cookie');

	const id = await startSandbox(page);
	expect((await previewJson(page)).sandbox).toBe(id);
});
