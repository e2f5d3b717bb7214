/** What the end-to-end specs share: starting a sandbox as a visitor would, and looking into it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { liveProcesses } from '../helpers/host.ts';

export const VUE_APP = readFileSync('sandbox/templates/vue/src/App.vue', 'utf8');
export const VUE_INDEX = readFileSync('sandbox/templates/vue/index.html', 'utf8');

export const SANDBOX_PATH = /\/sandbox\/((?:express|vue)-[0-9a-f]+)$/;

export async function startSandbox(page: Page, template = 'Express API'): Promise<string> {
	await page.goto('/');
	await page.getByLabel(template).check();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await page.waitForURL(SANDBOX_PATH);
	return SANDBOX_PATH.exec(page.url())![1];
}

/** A GET for a preview URL from outside the browser (so no browser cache), sent to the app's port with the preview Host. */
export function fetchPreview(previewUrl: string): Promise<{ status: number; body: string }> {
	const url = new URL(previewUrl);
	return new Promise((resolve, reject) => {
		const req = httpRequest({ host: '127.0.0.1', port: url.port, path: url.pathname, headers: { host: url.host } }, (res) => {
			let body = '';
			res.on('data', (chunk) => (body += chunk));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
		});
		req.on('error', reject);
		req.end();
	});
}

/**
 * The sandbox's container as the host sees it: its outer bwrap process (found through the `id`
 * file the runtime writes in each sandbox's directory), and a process inside it.
 */
export function containerOf(id: string): { bwrap: number; inside: number } {
	for (const p of liveProcesses()) {
		const dir = /^bwrap .*?(\S+\/sandboxes\/\d+)\//.exec(p.cmdline)?.[1];
		if (!dir || readFileSync(join(dir, 'id'), 'utf8').trim() !== id) continue;
		const [inside] = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(' ');
		return { bwrap: p.pid, inside: Number(inside) };
	}
	throw new Error(`no container for ${id}`);
}

/** The sandbox's /workspace, seen from the host through a process inside it. */
export function workspaceOf(id: string): string {
	return `/proc/${containerOf(id).inside}/root/workspace`;
}

/** The preview iframe of the sandbox page. */
export const preview = (page: Page) => page.frameLocator('iframe[title="Preview of the sandbox"]');

/** The CodeMirror editor of a file (not the textarea it replaces once loaded). */
export const codeEditor = (page: Page, path: string) =>
	page.locator('.cm-editor').getByRole('textbox', { name: `Contents of ${path}` });

/** Replaces everything in the CodeMirror editor, as pasting over a selection would. */
export async function replaceEditorText(page: Page, text: string) {
	await codeEditor(page, 'src/App.vue').click();
	await page.keyboard.press('ControlOrMeta+a');
	await page.keyboard.insertText(text);
}

/** Posts the save action as a plain form would, and returns the status and page text. */
export async function postSave(request: APIRequestContext, page: Page, id: string, form: Record<string, string>) {
	const response = await request.post(`/sandbox/${id}?/save`, {
		headers: { origin: new URL(page.url()).origin, accept: 'text/html' },
		form,
		maxRedirects: 0
	});
	return { status: response.status(), text: await response.text() };
}

/** The Express template's JSON, once the iframe shows it. */
export async function previewJson(page: Page) {
	const frame = preview(page);
	await expect(frame.locator('body')).toContainText('Hello from sandbox');
	return JSON.parse(await frame.locator('body').innerText());
}

