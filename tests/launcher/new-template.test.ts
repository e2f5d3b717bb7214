/**
 * Adding a template is adding a folder. In a scratch copy of this repository, the Express folder
 * is copied under a new name with a manifest of its own — and nothing else is touched: `npm run dev`
 * there offers it on the start page (first, as its manifest orders), boots it, and its preview
 * serves.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSnapshot } from '../../src/lib/sandbox-state.ts';
import { liveProcesses, scratchDir, waitFor } from '../helpers/host.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let copy: string;
let stateDir: string;
let dev: ChildProcess;
let output = '';
let origin: string;

/**
 * The repository's files as git knows them, with the installed dependencies linked, not copied
 * (the templates' links lead nowhere inside a sandbox: only the new template boots here).
 */
function scratchCopy(): string {
	const dir = scratchDir('new-template-');
	const files = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
	for (const file of files) {
		mkdirSync(dirname(join(dir, file)), { recursive: true });
		cpSync(join(ROOT, file), join(dir, file));
	}
	// Each package linked, not the folder: the copy's `vite dev` bundles its dependencies into a
	// `node_modules/.vite` of its own, not into the one an `npm run dev` of this checkout serves from.
	mkdirSync(join(dir, 'node_modules'));
	for (const entry of readdirSync(join(ROOT, 'node_modules')).filter((name) => name === '.bin' || !name.startsWith('.'))) {
		symlinkSync(join(ROOT, 'node_modules', entry), join(dir, 'node_modules', entry));
	}
	for (const template of readdirSync(join(ROOT, 'sandbox/templates'), { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
		symlinkSync(join(ROOT, 'sandbox/templates', template.name, 'node_modules'), join(dir, 'sandbox/templates', template.name, 'node_modules'));
	}
	return dir;
}

/** An HTTP request to the app's port with the Host given (preview hosts need no DNS that way). */
function request(url: string, { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
	const target = new URL(url);
	return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
		const req = httpRequest({ host: '127.0.0.1', port: new URL(origin).port, method, path: target.pathname + target.search, headers: { host: target.host, ...headers } }, (res) => {
			let text = '';
			res.on('data', (chunk) => (text += chunk));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
		});
		req.on('error', reject);
		req.end(body);
	});
}

const cookieOf = (headers: Record<string, string | string[] | undefined>) => String(headers['set-cookie']).split(';')[0];

beforeAll(async () => {
	copy = scratchCopy();
	// The new template: a folder, its sources and its manifest.
	const echo = join(copy, 'sandbox/templates/echo');
	// Its dependencies copied as `npm install` would have installed them: a link to this machine's
	// path would lead nowhere inside a sandbox.
	cpSync(join(ROOT, 'sandbox/templates/express'), echo, { recursive: true });
	writeFileSync(
		join(echo, 'template.json'),
		JSON.stringify({
			label: 'Echo API',
			description: 'A copy of the Express app, on a port of its own',
			order: 0,
			port: 4001,
			start: { command: 'node server.js', label: 'Starting the echo server' },
			ready: { path: '/health' }
		})
	);

	stateDir = scratchDir('new-template-state-');
	const port = await freePort();
	origin = `http://localhost:${port}`;
	dev = spawn(process.execPath, ['dev/dev.ts', '--port', String(port), '--strictPort'], {
		cwd: copy,
		env: { ...process.env, SANDBOX_ENGINE_STATE_DIR: stateDir, SANDBOX_ENGINE_MAX: '2' },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	dev.stdout!.on('data', (chunk) => (output += chunk));
	dev.stderr!.on('data', (chunk) => (output += chunk));
	const serves = async () => {
		// (A dev server that exited will not serve: no need to wait out the timeout.)
		if (dev.exitCode !== null) throw new Error(`exited with ${dev.exitCode}`);
		return request(`${origin}/`).then((r) => r.status === 200, () => false);
	};
	await waitFor(serves, { timeout: 120_000, interval: 500 }).catch((failure: Error) => {
		throw new Error(`npm run dev did not serve the scratch copy (${failure.message}):\n${output}`);
	});
}, 150_000);

afterAll(async () => {
	if (dev && dev.exitCode === null) {
		dev.kill('SIGTERM');
		await new Promise((resolve) => dev.once('exit', resolve));
	}
	const leftovers = liveProcesses().filter((p) => p.cmdline.includes(stateDir) || p.cmdline.includes(copy));
	rmSync(copy, { recursive: true, force: true });
	rmSync(stateDir, { recursive: true, force: true });
	expect(leftovers.map((p) => p.cmdline)).toEqual([]);
}, 60_000);

describe('a template folder added to a copy of the repository', () => {
	it('is offered first on the start page', async () => {
		const page = await request(`${origin}/`);
		const choices = [...page.body.matchAll(/name="template" value="([a-z0-9]+)"/g)].map((match) => match[1]);
		expect(choices).toEqual(['echo', 'express', 'vue', 'hono']);
		expect(page.body).toContain('Echo API');
	});

	it('boots, with its own steps and port, and its preview serves', async () => {
		const started = await request(`${origin}/?/start`, {
			method: 'POST',
			headers: { origin, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
			body: 'template=echo'
		});
		expect(started.status, started.body).toBe(303);
		const id = /^\/sandbox\/(echo-[0-9a-f]+)$/.exec(String(started.headers.location))![1];
		const visitor = cookieOf(started.headers);

		let state: SandboxSnapshot | undefined;
		await waitFor(
			async () => {
				state = JSON.parse((await request(`${origin}/api/sandbox/${id}/state`, { headers: { cookie: visitor } })).body).state;
				return state!.status !== 'initializing';
			},
			{ timeout: 60_000, interval: 250 }
		);
		expect(state!.status, JSON.stringify(state)).toBe('ready');
		expect(state!.steps.map((step) => step.label)).toContain('Starting the echo server');
		expect(new URL(state!.previewUrl!).host).toMatch(/^4001-echo-/);

		// In through the app, as the iframe goes: a one-time ticket, traded at the preview host for its cookie.
		const entry = await request(`${origin}/sandbox/${id}/preview`, { headers: { cookie: visitor } });
		const ticket = await request(String(entry.headers.location));
		const answer = await request(state!.previewUrl!, { headers: { cookie: cookieOf(ticket.headers), accept: 'application/json' } });
		expect(answer.status).toBe(200);
		expect(JSON.parse(answer.body)).toMatchObject({ message: `Hello from sandbox ${id}` });

		await request(`${origin}/sandbox/${id}?/stop`, { method: 'POST', headers: { origin, cookie: visitor, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
	});
});
