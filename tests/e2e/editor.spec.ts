import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { codeEditor, postSave, preview, replaceEditorText, SANDBOX_PATH, startSandbox, VUE_APP, workspaceOf } from './helpers.ts';

test.describe('the Vue + Vite template', () => {
	test("an edit to App.vue shows in the iframe by hot reload, over Vite's HMR socket through the preview URL: no navigation, the app keeps its state", async ({ page }) => {
		const navigations: string[] = [];
		page.on('framenavigated', (frame) => {
			if (frame !== page.mainFrame()) navigations.push(frame.url());
		});
		const hmrFrames: string[] = [];
		const statusSockets: string[] = [];
		page.on('websocket', (socket) => {
			if (/^ws:\/\/5173-vue-/.test(socket.url())) socket.on('framereceived', (frame) => hmrFrames.push(String(frame.payload)));
			if (/\/api\/sandbox\/[^/]+\/ws$/.test(socket.url())) statusSockets.push(socket.url());
		});
		await startSandbox(page, 'Vue + Vite');
		const frame = preview(page);
		await expect(frame.getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
		// Some state in the running app, which a reload would lose.
		await frame.getByRole('button').click();
		await frame.getByRole('button').click();
		await expect(frame.getByRole('button')).toHaveText('Clicked 2 times');
		// Vite's HMR client must be connected before the edit, or there is nobody to hot-reload: its
		// server says hello over the socket once it is.
		await expect.poll(() => hmrFrames.some((payload) => payload.includes('"type":"connected"'))).toBe(true);
		await expect(page.getByRole('link', { name: 'App.vue' })).toHaveAttribute('aria-current', 'page');

		await replaceEditorText(page, VUE_APP.replace('Hello from Vue in a sandbox', 'Edited in the page'));
		await expect(page.getByRole('status').filter({ hasText: 'Unsaved changes' })).toBeVisible();
		await page.keyboard.press('ControlOrMeta+s');

		await expect(frame.getByRole('heading')).toHaveText('Edited in the page');
		await expect(frame.getByRole('button')).toHaveText('Clicked 2 times');
		await expect(page.getByRole('status').filter({ hasText: 'Saved src/App.vue' })).toContainText('updated in place');
		expect(navigations).toHaveLength(1);
		// The page's data loaded twice more (the editor's files once ready, then the save): it follows
		// its sandbox over the one status socket throughout.
		expect(statusSockets).toHaveLength(1);
		// The editor kept the visitor's text and focus; the file in the sandbox is what they typed.
		await expect(codeEditor(page, 'src/App.vue')).toBeFocused();
		const id = SANDBOX_PATH.exec(new URL(page.url()).pathname)![1];
		expect(readFileSync(join(workspaceOf(id), 'app/src/App.vue'), 'utf8')).toBe(
			VUE_APP.replace('Hello from Vue in a sandbox', 'Edited in the page')
		);
	});

	test('with no HMR client connected, a save reloads the iframe from a cache-busting URL', async ({ page }) => {
		// Refuse the preview's HMR socket, so that nobody can hot-reload.
		await page.routeWebSocket(/^ws:\/\/5173-vue-/, (socket) => socket.close());
		await startSandbox(page, 'Vue + Vite');
		const frame = preview(page);
		await expect(frame.getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
		const before = (await page.locator('iframe').getAttribute('src'))!;

		await replaceEditorText(page, VUE_APP.replace('Hello from Vue in a sandbox', 'Reloaded, not hot'));
		await page.getByRole('button', { name: 'Save' }).click();

		await expect(frame.getByRole('heading')).toHaveText('Reloaded, not hot');
		await expect(page.getByRole('status').filter({ hasText: 'Saved src/App.vue' })).toContainText('The preview reloaded');
		const after = (await page.locator('iframe').getAttribute('src'))!;
		// The iframe goes in through the app again, on to `/?v={time}` on the preview.
		expect(after).toMatch(new RegExp(`^${before}\\?to=${encodeURIComponent('/?v=')}\\d+$`));
		expect(page.frames().some((f) => /^http:\/\/5173-vue-[^/]+\/\?v=\d+$/.test(f.url()))).toBe(true);
	});


	test.describe('saves that do not land', () => {
		// One visitor's sandbox for both: the first leaves App.vue as it was, which the second types over.
		test.describe.configure({ mode: 'serial' });
		let page: Page;
		let id: string;
		test.beforeAll(async ({ browser }) => {
			page = await (await browser.newContext()).newPage();
			id = await startSandbox(page, 'Vue + Vite');
			await expect(preview(page).getByRole('heading')).toHaveText('Hello from Vue in a sandbox', { timeout: 30_000 });
		});
		test.afterAll(() => page?.context().close());

		test('saves are refused for paths outside the sources, through symbolic links, and for oversized content', async () => {
			const app = join(workspaceOf(id), 'app');
			const packageJson = readFileSync(join(app, 'package.json'), 'utf8');
			// Links inside the sources, made from inside the sandbox's view: to a file outside them, and to a directory.
			symlinkSync('../package.json', join(app, 'src/package.json'));
			symlinkSync('/tmp', join(app, 'src/scratch'));

			const refusals: [string, number, string][] = [
				['../package.json', 400, 'Paths may not step out of a directory'],
				['src/../../package.json', 400, 'Paths may not step out of a directory'],
				['/etc/passwd', 400, 'Only files inside the app (/workspace/app) can be edited'],
				['/workspace/app/vite.config.js', 400, "Only the app's sources can be edited"],
				['src/.env', 400, 'may not start with "."'],
				['src/package.json', 403, 'leads through a symbolic link'],
				['src/scratch/App.vue', 403, 'leads through a symbolic link']
			];
			for (const [path, status, message] of refusals) {
				const response = await postSave(page.request, page, id, { path, content: '{"hacked": true}' });
				expect(response.status, path).toBe(status);
				expect(response.text, path).toContain(message);
			}
			const tooLarge = await postSave(page.request, page, id, { path: 'src/App.vue', content: 'x'.repeat(128 * 1024 + 1) });
			expect(tooLarge.status).toBe(413);
			expect(tooLarge.text).toContain('The file is too large');
			// Reading through a link is refused as well.
			expect((await page.request.get(`/sandbox/${id}?file=src/package.json`)).status()).toBe(403);

			expect(readFileSync(join(app, 'package.json'), 'utf8')).toBe(packageJson);
			expect(readFileSync(join(app, 'src/App.vue'), 'utf8')).toBe(VUE_APP);

			// An absolute path inside the sources is the same file as its relative path.
			const accepted = await postSave(page.request, page, id, { path: '/workspace/app/src/App.vue', content: VUE_APP });
			expect(accepted.status).toBe(303);
		});

		test('a save that gets no answer keeps the editor and its text, and says so', async () => {
			const edited = VUE_APP.replace('Hello from Vue in a sandbox', 'Typed, never saved');
			await replaceEditorText(page, edited);
			// The connection drops as the save goes out.
			await page.route(/\/sandbox\/[^/]+\?.*\/save/, (route) => route.abort('connectionreset'));
			await page.getByRole('button', { name: 'Save' }).click();

			await expect(page.getByRole('alert')).toContainText('Not saved: the server did not answer');
			await expect(codeEditor(page, 'src/App.vue')).toContainText('Typed, never saved');
			await expect(preview(page).getByRole('heading')).toHaveText('Hello from Vue in a sandbox');
		});
	});
});
