/**
 * Cookie tossing from a preview, in a real domain layout: the app on https://app.sandbox.test
 * (the `https` target: the worker in workerd over TLS, its name mapped to this machine by
 * Chromium's host-resolver-rules) and each preview a subdomain of it, as in production. A page
 * that a sandbox serves can set cookies for its parent domain — the app's host — so it could hand
 * every later visitor of the app the attacker's own, validly signed, visitor cookie, and read and
 * stop whatever they start. The app's cookie is `__Host-visitor`, which browsers accept only from
 * the app host itself.
 */
import { expect, test, type Browser } from '@playwright/test';
import { previewJson, shownPreviewUrl, startSandbox } from './helpers.ts';

const newBrowser = (browser: Browser) => browser.newContext({ ignoreHTTPSErrors: true });

test('a preview page cannot make a visitor of the app act as its author (session fixation)', async ({ browser, baseURL }) => {
	const attacker = await newBrowser(browser);
	const victim = await newBrowser(browser);
	try {
		// The attacker starts a sandbox, and shares its preview.
		const attackerPage = await attacker.newPage();
		await startSandbox(attackerPage);
		await previewJson(attackerPage);
		await attackerPage.getByRole('button', { name: 'Make public' }).click();
		await expect(attackerPage.getByText('Public: anyone with the link can open it')).toBeVisible();
		const { value: attackerId } = (await attacker.cookies(baseURL!)).find((c) => c.name.endsWith('visitor'))!;
		const previewUrl = await shownPreviewUrl(attackerPage);
		expect(new URL(previewUrl).hostname).toMatch(/\.app\.sandbox\.test$/);

		// The victim opens it; its page sets the attacker's cookie for the app's whole domain, under
		// every name it might have.
		const victimPage = await victim.newPage();
		await victimPage.goto(previewUrl);
		await expect(victimPage.locator('body')).toContainText('Hello from sandbox');
		await victimPage.evaluate((value) => {
			for (const name of ['visitor', '__Host-visitor', '__Secure-visitor']) {
				document.cookie = `${name}=${value}; domain=app.sandbox.test; path=/; secure; samesite=lax`;
			}
		}, attackerId);
		// The browser kept the tossed plain one (so the attack is real) — but no `__Host-` one.
		const tossed = await victim.cookies(baseURL!);
		expect(tossed.find((c) => c.name === 'visitor')?.value).toBe(attackerId);
		expect(tossed.find((c) => c.name === '__Host-visitor')).toBeUndefined();

		// The victim then starts a sandbox of their own: it is theirs alone.
		const victimId = await startSandbox(victimPage);
		expect((await previewJson(victimPage)).sandbox).toBe(victimId);
		expect((await attackerPage.goto(`/sandbox/${victimId}`))!.status()).toBe(404);
		expect((await attackerPage.goto(`/api/sandbox/${victimId}/state`))!.status()).toBe(404);
		const own = (await victim.cookies(baseURL!)).find((c) => c.name === '__Host-visitor')!;
		expect(own.value).not.toBe(attackerId);
		expect(own).toMatchObject({ secure: true, httpOnly: true, domain: 'app.sandbox.test' });
	} finally {
		await attacker.close();
		await victim.close();
	}
});
