/**
 * npm run bench — prints p50/p95 of:
 *   1. cold start to first HTTP byte of `node server.js`, in a fresh local
 *      sandbox versus started directly on the host (interleaved runs), and
 *      their ratio;
 *   2. through the app in Chromium, under `vite dev` and in workerd: clicking
 *      Start to the preview's first byte in the iframe, for the Express and the
 *      Vue + Vite template, with the HTTP requests the page made during each
 *      boot (the goal: one start, one WebSocket, zero polls);
 *   3. for Vue + Vite, saving an edit of App.vue in the page's editor to the
 *      edit showing in the iframe (by hot reload).
 *
 *   BENCH_RUNS=20 npm run bench
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime } from '../../sandbox/local/launch.ts';
import { PREVIEW_HOST_HEADER } from '../../sandbox/local/protocol.ts';
import { createLocalBackend } from '../../src/lib/server/sandbox/local.ts';
import { chromium, type Page } from '@playwright/test';
import { TARGETS, startTarget } from '../e2e/app-server.ts';
import { NAMED_SERVER } from '../helpers/local-runtime.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 12);
const POLL_MS = 5;
const PREVIEW_URL = /^http:\/\/\d+-/;
const TEMPLATE_LABELS = { express: 'Express API', vue: 'Vue + Vite' } as const;
const VUE_APP = readFileSync('sandbox/templates/vue/src/App.vue', 'utf8');
const VUE_HEADING = 'Hello from Vue in a sandbox';

/** Resolves with the time the first response byte arrived, polling until something answers 200. */
async function firstByte(port: number, headers: Record<string, string> = {}): Promise<number> {
	for (;;) {
		const at = await new Promise<number | null>((resolve) => {
			const req = request({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
				const time = performance.now();
				res.resume();
				resolve(res.statusCode === 200 ? time : null);
			});
			req.on('error', () => resolve(null));
			req.end();
		});
		if (at !== null) return at;
		await new Promise((resolve) => setTimeout(resolve, POLL_MS));
	}
}

function freePort(): Promise<number> {
	return new Promise((resolve) => {
		const server = createServer().listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolve(port));
		});
	});
}

async function plainRun(dir: string): Promise<number> {
	const port = await freePort();
	const start = performance.now();
	const child = spawn(process.execPath, ['server.js'], { cwd: dir, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
	const end = await firstByte(port);
	child.kill('SIGKILL');
	await new Promise((resolve) => child.once('exit', resolve));
	return end - start;
}

async function sandboxedRun(backend: ReturnType<typeof createLocalBackend>, runtimeUrl: string, id: string) {
	const sandbox = backend.getSandbox(id);
	const start = performance.now();
	await sandbox.writeFile('/workspace/server.js', NAMED_SERVER); // wakes a fresh container
	const booted = performance.now();
	await sandbox.startProcess('node server.js', { processId: 'web' });
	const { url } = await sandbox.exposePort(3001, { hostname: 'localhost:5173' });
	const end = await firstByte(Number(new URL(runtimeUrl).port), { [PREVIEW_HOST_HEADER]: new URL(url).host });
	await sandbox.destroy();
	return { total: end - start, boot: booted - start };
}

function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface AppBoot {
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
async function appRun(
	browser: Awaited<ReturnType<typeof chromium.launch>>,
	origin: string,
	template: keyof typeof TEMPLATE_LABELS
): Promise<AppBoot> {
	const context = await browser.newContext();
	const page = await context.newPage();
	await page.goto(`${origin}/`);
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
		// Other data requests (not the preview's own), e.g. the page data after the redirect.
		else if (['fetch', 'xhr', 'document'].includes(request.resourceType()) && !PREVIEW_URL.test(url)) counts.other++;
	});
	const firstByte = page.waitForResponse((response) => PREVIEW_URL.test(response.url()), { timeout: 60_000 });
	await page.getByLabel(TEMPLATE_LABELS[template]).check();
	const start = performance.now();
	await page.getByRole('button', { name: 'Start a sandbox' }).click();
	await firstByte;
	const ms = performance.now() - start;
	const during = { ...counts };
	const saveMs = template === 'vue' ? await saveToVisible(page, hmr.promise) : null;
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

async function main() {
	const dir = mkdtempSync(join(tmpdir(), 'bench-plain-'));
	writeFileSync(join(dir, 'server.js'), NAMED_SERVER);
	const runtime = await startLocalRuntime({ output: 'capture' });
	const backend = createLocalBackend(runtime);
	const plain: number[] = [];
	const sandboxed: number[] = [];
	const boot: number[] = [];
	try {
		// One unmeasured round of each warms the page cache for both.
		await plainRun(dir);
		await sandboxedRun(backend, runtime.url, 'bench-warmup');
		for (let i = 0; i < RUNS; i++) {
			plain.push(await plainRun(dir));
			const run = await sandboxedRun(backend, runtime.url, `bench-${i}`);
			sandboxed.push(run.total);
			boot.push(run.boot);
			process.stderr.write('.');
		}
	} finally {
		process.stderr.write('\n');
		await runtime.stop();
		rmSync(dir, { recursive: true, force: true });
	}

	const row = (name: string, values: number[]) =>
		`${name.padEnd(64)} ${percentile(values, 50).toFixed(0).padStart(7)} ${percentile(values, 95).toFixed(0).padStart(7)}`;
	console.log(`Cold start to first HTTP byte, node server.js — ${RUNS} runs each, Node ${process.versions.node}\n`);
	console.log(`${'(milliseconds)'.padEnd(64)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}`);
	console.log(row('plain: spawn on the host', plain));
	console.log(row('sandboxed: new sandbox → preview first byte', sandboxed));
	console.log(row('  of which sandbox boot (bwrap + slirp + agent)', boot));
	const ratio = (p: number) => (percentile(sandboxed, p) / percentile(plain, p)).toFixed(2);
	console.log(`${'ratio sandboxed / plain'.padEnd(64)} ${`${ratio(50)}x`.padStart(7)} ${`${ratio(95)}x`.padStart(7)}`);

	const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { stdio: 'ignore' });
	if (build.status !== 0) throw new Error('vite build failed');
	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' });
	const boots: Record<string, AppBoot[]> = {};
	try {
		for (const [name, { port }] of Object.entries(TARGETS)) {
			const stop = await startTarget(name as keyof typeof TARGETS);
			try {
				const origin = `http://localhost:${port}`;
				for (const template of ['express', 'vue'] as const) {
					await appRun(browser, origin, template); // warm-up: the first request compiles or loads the pages
					const runs: AppBoot[] = (boots[`${TEMPLATE_LABELS[template]} (${name})`] = []);
					for (let i = 0; i < RUNS; i++) {
						runs.push(await appRun(browser, origin, template));
						process.stderr.write('.');
					}
				}
			} finally {
				await stop();
			}
		}
	} finally {
		process.stderr.write('\n');
		await browser.close();
	}
	console.log(`\nThrough the app in Chromium — ${RUNS} runs each\n`);
	console.log(`${'(milliseconds)'.padEnd(64)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}`);
	for (const [name, runs] of Object.entries(boots)) {
		console.log(row(`click Start → preview first byte, ${name}`, runs.map((b) => b.ms)));
	}
	for (const [name, runs] of Object.entries(boots)) {
		if (runs[0].saveMs !== null) console.log(row(`save App.vue → edit in the iframe (HMR), ${name}`, runs.map((b) => b.saveMs!)));
	}
	for (const label of Object.values(TEMPLATE_LABELS)) {
		const runs = Object.entries(boots).flatMap(([name, values]) => (name.startsWith(label) ? values : []));
		const requests = (key: 'starts' | 'sockets' | 'polls' | 'other') => {
			const values = runs.map((b) => b[key]);
			return `${Math.min(...values)}–${Math.max(...values)}`;
		};
		console.log(
			`requests per ${label} boot (min–max): start ${requests('starts')}, WebSocket ${requests('sockets')}, ` +
				`polls ${requests('polls')}, other data requests ${requests('other')}`
		);
	}
}

await main();
