/** What the end-to-end specs share: starting a sandbox as a visitor would, and looking into it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { childrenOf, cmdlineOf } from '../../engine/proc.ts';
import { bwrapProcesses, descendantsOf } from '../helpers/host.ts';

export const VUE_APP = readFileSync('sandbox/templates/vue/src/App.vue', 'utf8');
export const VUE_INDEX = readFileSync('sandbox/templates/vue/index.html', 'utf8');

/** A sandbox's page: `/sandbox/{template}-{random hex}`, whatever the template. */
export const SANDBOX_PATH = /\/sandbox\/([a-z][a-z0-9]{1,15}-[0-9a-f]+)$/;

/**
 * Starts a sandbox from the start page. With `waitUntil: 'networkidle'`, only once the page has also
 * loaded the sandbox page's code (it does so ahead): the way from the click to that page is then its
 * data alone, so the page is there before any boot is done, however busy the machine.
 */
export async function startSandbox(page: Page, template = 'Express API', { waitUntil = 'load' }: { waitUntil?: 'load' | 'networkidle' } = {}): Promise<string> {
	await page.goto('/', { waitUntil });
	await page.getByLabel(template).check();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await page.waitForURL(SANDBOX_PATH);
	return SANDBOX_PATH.exec(page.url())![1];
}

/**
 * A GET for a preview URL from outside the browser (so no browser cache), sent to the app's port with
 * the preview Host — with the preview cookie `cookie` (see `previewCookie`), or as a stranger.
 */
export function fetchPreview(previewUrl: string, cookie?: string): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
	const url = new URL(previewUrl);
	return new Promise((resolve, reject) => {
		const headers = { host: url.host, accept: 'text/html', ...(cookie && { cookie }) };
		const req = httpRequest({ host: '127.0.0.1', port: url.port, path: url.pathname + url.search, headers }, (res) => {
			let body = '';
			res.on('data', (chunk) => (body += chunk));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
		});
		req.on('error', reject);
		req.end();
	});
}

/**
 * The preview cookie (`name=value`) for a sandbox, got as the owner's browser gets it: the app's
 * `/sandbox/{id}/preview` with the visitor's cookie, then the one-time ticket at the preview host.
 */
export async function previewCookie(origin: string, visitorCookie: string, id: string): Promise<string> {
	const entry = await fetch(`${origin}/sandbox/${id}/preview`, { headers: { cookie: visitorCookie }, redirect: 'manual' });
	expect(entry.status).toBe(303);
	const access = await fetchPreview(entry.headers.get('location')!);
	expect(access.status).toBe(303);
	return String(access.headers['set-cookie']).split(';')[0];
}

/** The visitor cookie (`name=value`) of a browser context that has one. */
export async function visitorCookieOf(page: Page): Promise<string> {
	const cookie = (await page.context().cookies()).find((c) => c.name.endsWith('visitor'));
	if (!cookie) throw new Error('this browser has no visitor cookie');
	return `${cookie.name}=${cookie.value}`;
}

/** The preview URL the ready view shows. */
export const shownPreviewUrl = async (page: Page) => (await page.locator('.ready .bar code').innerText()).trim();

/** Opens a path of the visitor's preview in the tab, going in through the app as "Open in a new tab" does. */
export const openPreview = (page: Page, id: string, path = '/') => page.goto(`/sandbox/${id}/preview?${new URLSearchParams({ to: path })}`);

/**
 * The sandbox's container as the host sees it: its outer bwrap process (found through the `id`
 * file the engine writes in each sandbox's directory, which bwrap's command line names), and the
 * first process inside it.
 */
export function containerOf(id: string): { bwrap: number; inside: number } {
	for (const { pid, cmdline } of bwrapProcesses()) {
		const dir = /^bwrap .*?(\S+\/sandboxes\/\d+)\//.exec(cmdline)?.[1];
		if (!dir || readFileSync(join(dir, 'id'), 'utf8').trim() !== id) continue;
		return { bwrap: pid, inside: childrenOf(pid)[0] };
	}
	throw new Error(`no container for ${id}`);
}

/** Whether the sandbox has a container on this host now. */
export function hasContainer(id: string): boolean {
	try {
		containerOf(id);
		return true;
	} catch {
		return false;
	}
}

/**
 * Waits until the idle TTL has stopped the sandbox: its container gone. It asks the app nothing
 * meanwhile (every status read is use, which would hold the TTL off), and gives the alarm and the
 * saving of the visitor's edits their time.
 */
export async function idleStopped(id: string, ttlSeconds: number) {
	await expect.poll(() => hasContainer(id), { timeout: (ttlSeconds + 20) * 1000, intervals: [500] }).toBe(false);
}

/** The processes in the sandbox's container whose command line is exactly `command`. */
export function runningInside(id: string, command: string): number[] {
	return descendantsOf(containerOf(id).bwrap).filter((pid) => cmdlineOf(pid) === command);
}

/** The environment of the sandbox's app process (the one running `command`), read on the host. */
export function appEnvironment(id: string, command: string): Record<string, string> {
	const [app] = runningInside(id, command);
	if (!app) throw new Error(`no \`${command}\` runs in ${id}`);
	return Object.fromEntries(
		readFileSync(`/proc/${app}/environ`, 'utf8')
			.split('\0')
			.filter(Boolean)
			.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
	);
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

/** Links, buttons, disclosure summaries and labels the visitor can see that are shorter than a fingertip. */
export function smallTapTargets(page: Page) {
	return page.evaluate(() =>
		[...document.querySelectorAll('a, button, summary, label')]
			.filter((element) => element.getClientRects().length > 0)
			.map((element) => ({ name: element.textContent?.trim().slice(0, 30), height: element.getBoundingClientRect().height }))
			.filter(({ height }) => height < 44)
	);
}

export const pageScrollsSideways = (page: Page) =>
	page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

/** The API console's answer. */
export const answer = (page: Page) => page.getByLabel('Answer');
export const statusLine = (page: Page) => answer(page).locator('.status strong');

/** A Hono sandbox started from the start page, and ready. */
export async function readyHono(page: Page): Promise<string> {
	const id = await startSandbox(page, 'Hono API');
	await expect(page.locator('[data-status="ready"]')).toBeVisible({ timeout: 30_000 });
	return id;
}
