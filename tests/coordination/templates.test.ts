/**
 * What the generic boot and the API console do with real templates, in workerd over the local
 * engine's containers: an app bound to 127.0.0.1 is named as such; the Hono template's API is
 * called with the sandbox's own token (minted by its coordinator, seen by nothing else), streams
 * its Server-Sent Events as they come, and a stream that never ends or breaks off says so; the
 * app's logs are read and followed, its token redacted, and an app that exits says how.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiCall } from '../../src/lib/api-console.ts';
import type { LogLine } from '../../src/lib/app-logs.ts';
import { startCoordinationWorker, type CoordinationWorker } from './harness.ts';

let worker: CoordinationWorker;

beforeAll(async () => {
	// Long enough that no sandbox here stops for idleness mid-test.
	worker = await startCoordinationWorker({ ttlSeconds: 300 });
}, 120_000);

afterAll(async () => {
	await worker?.stop();
});

let counter = 0;
const newId = (name: string) => `${name}-${Date.now().toString(36)}${++counter}`;

const get = (path: string, authorize = true): ApiCall => ({ method: 'GET', path, body: '', authorize });

describe('the boot', () => {
	it('fails an app that listens on 127.0.0.1 only, naming the address', async () => {
		const id = newId('loopback');
		await worker.start(id);
		const state = await worker.settled(id);
		expect(state.status, JSON.stringify(state)).toBe('error');
		expect(state.error!.message).toContain('listens on 127.0.0.1:3001 only');
		expect(state.error!.message).toContain('0.0.0.0');
		expect(state.steps.at(-1)).toMatchObject({ label: 'Waiting for the server to answer', state: 'failed' });
	});
});

describe("the Hono template's API", () => {
	let id: string;
	let previewUrl: string;
	/** The token, read from the app process's environment on this host: nothing else would show it. */
	let token: string;
	let serverPid: number;

	beforeAll(async () => {
		id = newId('hono');
		await worker.start(id, { template: 'hono' });
		const state = await worker.settled(id);
		expect(state.status, JSON.stringify(state)).toBe('ready');
		previewUrl = state.previewUrl!;
		const server = worker.containerProcesses(id).find((p) => p.cmdline === 'node server.js');
		expect(server, 'the app process').toBeDefined();
		serverPid = server!.pid;
		const environment = readFileSync(`/proc/${serverPid}/environ`, 'utf8').split('\0');
		token = environment.find((line) => line.startsWith('API_TOKEN='))!.slice('API_TOKEN='.length);
		expect(token).toMatch(/^[0-9a-f]{64}$/);
	}, 90_000);

	it('answers the console with the token, and 401 without it', async () => {
		const created = await worker.apiCall(id, { method: 'POST', path: '/api/notes', body: '{ "text": "first" }', authorize: true });
		expect(created.result!.response).toMatchObject({ status: 201 });
		const listed = await worker.apiCall(id, get('/api/notes'));
		expect(listed.result!.response).toMatchObject({ status: 200 });
		expect(JSON.parse(listed.result!.body).notes).toMatchObject([{ text: 'first' }]);
		expect(listed.result!.end).toMatchObject({ outcome: 'complete' });

		const anonymous = await worker.apiCall(id, get('/api/notes', false));
		expect(anonymous.result!.response).toMatchObject({ status: 401 });
	});

	it('is closed to the preview without the token (401), refuses a wrong one (403), and opens / and /health', async () => {
		expect((await worker.preview(new URL('/api/notes', previewUrl).href)).status).toBe(401);
		expect((await worker.preview(new URL('/api/notes', previewUrl).href, { authorization: `Bearer ${'0'.repeat(64)}` })).status).toBe(403);
		expect((await worker.preview(new URL('/health', previewUrl).href)).status).toBe(200);
		expect((await worker.preview(previewUrl)).body).toContain(`Hono API in sandbox ${id}`);
	});

	it('relays Server-Sent Events in order, each as it comes, and says the stream ended', async () => {
		const { result } = await worker.apiCall(id, get('/api/events?count=4&interval=300'));
		expect(result!.response!.headers).toContainEqual(['content-type', 'text/event-stream']);
		expect(result!.events.map((e) => [e.event, e.id])).toEqual([
			['tick', '1'],
			['tick', '2'],
			['tick', '3'],
			['tick', '4'],
			['done', null]
		]);
		// Relayed as they came, not gathered at the end: the first and the fourth are ~900 ms apart.
		expect(result!.events[3].atMs - result!.events[0].atMs).toBeGreaterThan(600);
		expect(result!.end).toMatchObject({ outcome: 'complete', message: 'The app ended the stream after 5 events.' });
	});

	it('stops listening to a stream that never ends, at the deadline, and says so', async () => {
		const started = Date.now();
		const { result } = await worker.apiCall(id, get('/api/clock'));
		expect(Date.now() - started).toBeLessThan(15_000);
		expect(result!.events.length).toBeGreaterThanOrEqual(8);
		expect(result!.end!.outcome).toBe('deadline');
		expect(result!.end!.message).toMatch(/still streaming after 10 s \(\d+ events so far\)/);
	});

	it('refuses calls it must not make (400), and a template without an API (404)', async () => {
		for (const call of [
			get('//elsewhere.example/api/notes'),
			get('api/notes'),
			{ ...get('/api/notes'), method: 'TRACE' },
			{ method: 'POST', path: '/api/notes', body: '{ not json', authorize: true }
		]) {
			const refused = await worker.apiCall(id, call as ApiCall);
			expect(refused.status, JSON.stringify(call)).toBe(400);
		}
		const express = newId('plain');
		await worker.start(express);
		expect((await worker.settled(express)).status).toBe('ready');
		expect(await worker.apiCall(express, get('/'))).toMatchObject({ status: 404, message: 'This sandbox has no API console.' });
	});

	it('never shows its token: not in the state, nor in the logs', async () => {
		const status = await worker.status(id);
		expect(JSON.stringify(status)).not.toContain(token);
		expect(worker.workerLog()).not.toContain(token);
		expect(worker.engineLog()).not.toContain(token);
	});

	it('says so when the app breaks a stream off', async () => {
		const call = worker.apiCall(id, get('/api/clock'));
		await new Promise((resolve) => setTimeout(resolve, 1_500));
		process.kill(serverPid, 'SIGKILL');
		const { result } = await call;
		expect(result!.events.length).toBeGreaterThanOrEqual(1);
		expect(result!.end!.outcome, JSON.stringify(result!.end)).toBe('cut');
	});
});

describe("the app's logs", () => {
	it('of a boot whose app exits: the exit code, and what it wrote last', async () => {
		const id = newId('crash');
		await worker.start(id);
		const state = await worker.settled(id);
		expect(state.status, JSON.stringify(state)).toBe('error');
		expect(state.error!.message).toBe('The app exited with code 3 before it was ready.');
		expect(state.error!.log).toEqual([
			{ stream: 'stdout', text: 'reading the config' },
			{ stream: 'stderr', text: 'boom: no config' }
		]);
		// Not running: nothing to read or follow.
		expect(await worker.coordinator(id, 'recentLogs')).toBeNull();
		expect((await worker.followLogs(id, 1_000)).status).toBe(409);
	});

	it('are read, and followed as they come, with the token the app was given redacted', async () => {
		const id = newId('leaky');
		await worker.start(id, { template: 'hono' });
		expect((await worker.settled(id)).status).toBe('ready');
		const recent = await worker.coordinator<LogLine[]>(id, 'recentLogs');
		expect(recent.slice(0, 2)).toEqual([
			{ stream: 'stdout', text: 'my token is [redacted]' },
			{ stream: 'stdout', text: 'hono listening on 0.0.0.0:8080' }
		]);

		const following = worker.followLogs(id, 3_000);
		await new Promise((resolve) => setTimeout(resolve, 1_000));
		await worker.apiCall(id, get('/api/notes'));
		const { status, parts } = await following;
		expect(status).toBe(200);
		const lines = parts.flatMap((part) => (part.type === 'lines' ? part.lines.map((line) => line.text) : []));
		expect(lines.slice(0, 2)).toEqual(['my token is [redacted]', 'hono listening on 0.0.0.0:8080']);
		// The call made after the stream began, as it happened, without its colours.
		expect(lines).toContainEqual(expect.stringMatching(/^--> GET \/api\/notes 200 \d+ms$/));
		expect(JSON.stringify(parts)).not.toMatch(/[0-9a-f]{64}/);
	});
});
