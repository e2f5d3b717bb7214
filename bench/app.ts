/**
 * Through the app in Chromium, on each target (dev and preview, see targets.ts): clicking Start to
 * the preview's first byte in the iframe, for every template (sandbox/templates/), with the HTTP
 * requests the page made during each boot (the goal: one start, one WebSocket, zero polls); and for
 * Vue + Vite, saving an edit of App.vue in the page's editor to the edit showing in the iframe (by
 * hot reload). And the Express boot once more without JavaScript: the form posts natively, and the
 * status page reloads itself (each reload answered when the state moves on) until the iframe shows.
 */
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from '@playwright/test';
import { readTemplates } from '../sandbox/catalog.ts';
import { pairRow, tick, type Row } from './stats.ts';
import { TARGET_NAMES, withTargets, type Target, type TargetName } from './targets.ts';

const PREVIEW_URL = /^http:\/\/\d+-/;
/** The iframe's way into the private preview: the app's redirect, then the ticket at the preview host. */
const PREVIEW_ENTRY = /\/sandbox\/[^/]+\/preview(?:\?|$)|\/__preview_access\?/;
/** The preview's own answer (not a step of the way in). */
const isPreviewAnswer = (url: string) => PREVIEW_URL.test(url) && !PREVIEW_ENTRY.test(url);
/** Every template, by ID, with the label the start page offers it under. */
export const TEMPLATE_LABELS: Record<string, string> = Object.fromEntries(readTemplates().map((t) => [t.id, t.label]));
type Template = string;
export const TEMPLATES = Object.keys(TEMPLATE_LABELS);
const VUE_APP = readFileSync('sandbox/templates/vue/src/App.vue', 'utf8');
const VUE_HEADING = 'Hello from Vue in a sandbox';

export interface AppBoot {
	ms: number;
	starts: number;
	sockets: number;
	polls: number;
	other: number;
	/** Vue + Vite only: saving an edit → the edit visible in the iframe. */
	saveMs: number | null;
}

/**
 * One visitor's boot through the app in Chromium: click Start → first byte of the preview in the
 * iframe. For Vue + Vite, then one edit of App.vue in the editor, saved with Ctrl-S.
 */
export async function appRun(browser: Browser, origin: string, template: Template, javaScript = true): Promise<AppBoot> {
	const context = await browser.newContext({ javaScriptEnabled: javaScript });
	const page = await context.newPage();
	// With JavaScript, the click is measured once the page runs its code (and has loaded the sandbox
	// page's, as it does ahead): a click before that is a plain form post and a whole page load, the
	// way without JavaScript, measured on its own. Under vite dev, that takes a while after `load`.
	await page.goto(`${origin}/`, { waitUntil: javaScript ? 'networkidle' : 'load' });
	const counts = { starts: 0, sockets: 0, polls: 0, other: 0 };
	const hmr = Promise.withResolvers<void>();
	page.on('websocket', (socket) => {
		if (socket.url().includes('/api/sandbox/')) counts.sockets++;
		if (/^ws:\/\/5173-/.test(socket.url())) {
			socket.on('framereceived', (frame) => String(frame.payload).includes('"type":"connected"') && hmr.resolve());
		}
	});
	page.on('request', (request) => {
		const url = request.url();
		if (url.includes('?/start')) counts.starts++;
		else if (/\/api\/sandbox\/[^/]+\/state/.test(url)) counts.polls++;
		// Other data requests (not the preview's own, nor its way in), e.g. the page data after the redirect.
		else if (['fetch', 'xhr', 'document'].includes(request.resourceType()) && !PREVIEW_URL.test(url) && !PREVIEW_ENTRY.test(url)) counts.other++;
	});
	const firstByte = page.waitForResponse((response) => isPreviewAnswer(response.url()), { timeout: 60_000 });
	await page.getByLabel(TEMPLATE_LABELS[template]).check();
	const start = performance.now();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await firstByte;
	const ms = performance.now() - start;
	const during = { ...counts };
	const saveMs = template === 'vue' && javaScript ? await saveToVisible(page, hmr.promise) : null;
	// Stop it, so each run boots a fresh sandbox within the runtime's limit.
	await page.getByRole('button', { name: 'Stop sandbox' }).click();
	await page.waitForURL(`${origin}/`);
	await context.close();
	return { ms, ...during, saveMs };
}

/** Replaces App.vue's heading in the editor; times Ctrl-S → the new heading in the iframe's DOM. */
async function saveToVisible(page: Page, hmrConnected: Promise<void>): Promise<number> {
	await page.locator('.cm-editor').getByRole('textbox', { name: 'Contents of src/App.vue' }).click(); // CodeMirror, loaded
	await hmrConnected; // someone to hot-reload: the iframe's Vite client
	const frame = page.frames().find((f) => PREVIEW_URL.test(f.url()))!;
	await frame.waitForFunction((text) => document.querySelector('h1')?.textContent === text, VUE_HEADING);
	const heading = `Edited at ${Date.now()}`;
	await page.keyboard.press('ControlOrMeta+a');
	await page.keyboard.insertText(VUE_APP.replace(VUE_HEADING, heading));
	const visible = frame.waitForFunction((text) => document.querySelector('h1')?.textContent === text, heading, {
		polling: 'raf',
		timeout: 30_000
	});
	const start = performance.now();
	await Promise.all([visible, page.keyboard.press('ControlOrMeta+s')]);
	const ms = performance.now() - start;
	await page.getByRole('status').filter({ hasText: 'Saved src/App.vue' }).waitFor();
	return ms;
}

/** Each target's boots, by template; the targets take turns run by run. */
async function bootsOn(browser: Browser, targets: Record<TargetName, Target>, runs: number) {
	const boots = {} as Record<TargetName, Record<Template | 'expressWithoutJavaScript', AppBoot[]>>;
	for (const name of TARGET_NAMES) boots[name] = { expressWithoutJavaScript: [], ...Object.fromEntries(TEMPLATES.map((t) => [t, []])) };
	for (const template of TEMPLATES) {
		// Warm-up: the first request compiles (vite dev) or loads (workerd) the pages.
		for (const name of TARGET_NAMES) await appRun(browser, targets[name].origin, template);
		for (let i = 0; i < runs; i++) {
			for (const name of TARGET_NAMES) boots[name][template].push(await appRun(browser, targets[name].origin, template));
			tick();
		}
	}
	for (let i = 0; i < runs; i++) {
		for (const name of TARGET_NAMES) boots[name].expressWithoutJavaScript.push(await appRun(browser, targets[name].origin, 'express', false));
		tick();
	}
	return boots;
}

export async function benchApp(runs: number): Promise<Row[]> {
	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
	let boots: Awaited<ReturnType<typeof bootsOn>>;
	try {
		boots = await withTargets((targets) => bootsOn(browser, targets, runs));
	} finally {
		await browser.close();
	}

	const rows: Row[] = [];
	const pair = (label: string, values: (boot: AppBoot) => number | null, template: Template | 'expressWithoutJavaScript') => {
		const [dev, preview] = TARGET_NAMES.map((name) => boots[name][template].flatMap((b) => values(b) ?? []));
		rows.push(pairRow(label, dev, preview));
	};
	for (const template of TEMPLATES) pair(`click Start → preview first byte, ${TEMPLATE_LABELS[template]}`, (b) => b.ms, template);
	pair('… Express API, without JavaScript', (b) => b.ms, 'expressWithoutJavaScript');
	pair('save App.vue → edit in the iframe (HMR), Vue + Vite', (b) => b.saveMs, 'vue');
	rows.push(['requests the page made per boot (min–max):']);
	for (const template of TEMPLATES) {
		for (const name of TARGET_NAMES) {
			const measured = boots[name][template];
			const requests = (key: 'starts' | 'sockets' | 'polls' | 'other') => {
				const values = measured.map((b) => b[key]);
				return `${Math.min(...values)}–${Math.max(...values)}`;
			};
			rows.push([
				`  ${TEMPLATE_LABELS[template]}, ${name}: start ${requests('starts')}, WebSocket ${requests('sockets')}, ` +
					`polls ${requests('polls')}, other data requests ${requests('other')}`
			]);
		}
	}
	return rows;
}
