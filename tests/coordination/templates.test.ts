/**
 * What the generic boot and the API console do with real templates, in workerd over the local
 * engine's containers: an app bound to 127.0.0.1 is named as such; the Hono template's API is
 * called with the sandbox's own token (minted by its coordinator, seen by nothing else), streams
 * its Server-Sent Events as they come, and a stream that never ends or breaks off says so; the
 * app's logs are read and followed, its token redacted, and an app that exits says how; a running
 * app's problems (a 500, an exit, a closed server) are found and shown; a restart the app fails
 * leaves the sandbox running.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiCall } from '../../src/lib/api-console.ts';
import type { LogLine } from '../../src/lib/app-logs.ts';
import type { AppProblem } from '../../src/lib/sandbox-state.ts';
import { newId } from './expectations.ts';
import { sleep, startCoordinationWorker, type CoordinationWorker } from './harness.ts';

let worker: CoordinationWorker;

beforeAll(async () => {
	// Long enough that no sandbox here stops for idleness mid-test.
	worker = await startCoordinationWorker({ ttlSeconds: 300 });
}, 120_000);

afterAll(async () => {
	await worker?.stop();
});

const get = (path: string, authorize = true): ApiCall => ({ method: 'GET', path, body: '', authorize });

describe('the boot', () => {
	it('fails an app that listens on 127.0.0.1 only, naming the address', async () => {
		const id = newId('loopback');
		await worker.start(id, { template: 'loopback' });
		const state = await worker.settled(id);
		expect(state.status, JSON.stringify(state)).toBe('error');
		expect(state.error!.message).toContain('listens on 127.0.0.1:3001 only');
		expect(state.error!.message).toContain('0.0.0.0');
		expect(state.steps.at(-1)).toMatchObject({ label: 'Waiting for the server to answer', state: 'failed' });
	});

	it('fails an app that is not ready in time, saying what it did instead: nothing listened, or it answered 503', async () => {
		const deaf = newId('deaf');
		const unwell = newId('unwell');
		await Promise.all([worker.start(deaf, { template: 'deaf' }), worker.start(unwell, { template: 'unwell' })]);
		expect((await worker.settled(deaf)).error!.message).toBe('Nothing listened on port 3001 within 2 s.');
		expect((await worker.settled(unwell)).error!.message).toBe(
			'The app answered 503 to GET /health within 2 s: it is ready once it answers with a 2xx or 3xx there.'
		);
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
		await worker.start(id, { template: 'crash' });
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
		await worker.start(id, { template: 'leaky' });
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

	it('followed while the sandbox stops, end by saying it stopped (a destroyed container is no failure)', async () => {
		const id = newId('logs-stop');
		await worker.start(id);
		expect((await worker.settled(id)).status).toBe('ready');
		const logged = worker.workerLog().length;
		const following = worker.followLogs(id, 4_000);
		await sleep(1_000);
		await worker.coordinator(id, 'stop', ['Stopped by the test.']);
		const { status, parts } = await following;
		expect(status).toBe(200);
		expect(parts.at(-1)).toEqual({ type: 'end', message: 'The sandbox has stopped.' });
		expect(worker.workerLog().slice(logged)).not.toContain('following the logs failed');
	});
});

describe("a running app's problems, told from evidence", () => {
	const page = { accept: 'text/html', 'sec-fetch-dest': 'document' };
	/** The sandbox's problem once the coordinator has one (the preview route reports after answering). */
	const problemOf = async (id: string, kind: AppProblem['kind'] | null) => {
		for (let tries = 0; tries < 50; tries++) {
			const problem = (await worker.status(id))!.state.problem;
			if ((problem?.kind ?? null) === kind) return problem;
			await sleep(100);
		}
		throw new Error(`${id} never had ${kind}: ${JSON.stringify((await worker.status(id))!.state.problem)}`);
	};
	let id: string;
	let previewUrl: string;
	const at = (path: string) => new URL(path, previewUrl).href;

	beforeEach(async () => {
		id = newId('fragile');
		await worker.start(id, { template: 'fragile' });
		const state = await worker.settled(id);
		expect(state.status, JSON.stringify(state)).toBe('ready');
		previewUrl = state.previewUrl!;
	}, 60_000);

	// The engine runs a few sandboxes at once: each test gives its slot back.
	afterEach(() => worker.coordinator(id, 'stop', ['done']));

	it('an answer of 500: which request, and what the app wrote; gone once a page loads again', async () => {
		expect(await worker.preview(at('/boom'))).toMatchObject({ status: 500, body: 'broken' });
		const problem = await problemOf(id, 'server-error');
		expect(problem!.message).toBe('The app answered 500 to GET /boom.');
		expect(problem!.log).toContainEqual({ stream: 'stderr', text: 'boom: the database is down' });
		// Another request that loads is no proof the page does; a page that loads is.
		expect((await worker.preview(at('/'))).body).toBe('fine');
		expect((await worker.status(id))!.state.problem?.kind).toBe('server-error');
		expect((await worker.preview(at('/'), page)).body).toBe('fine');
		await problemOf(id, null);
	});

	it('an answer of 500 is gone too once the request that failed is answered', async () => {
		expect((await worker.preview(at('/boom'))).status).toBe(500);
		await problemOf(id, 'server-error');
		expect((await worker.preview(at('/boom'))).body).toBe('fine');
		await problemOf(id, null);
	});

	it('an app that exited: its code and last lines, in the preview (a page that reloads itself, or JSON) and in the state', async () => {
		expect((await worker.preview(at('/exit'))).body).toBe('bye');
		// (Until its process has ended, the app may still be answering, or closing.)
		let shown = await worker.preview(at('/'), page);
		for (let tries = 0; !shown.body.includes('exited') && tries < 20; tries++) shown = await sleep(100).then(() => worker.preview(at('/'), page));
		expect(shown.status).toBe(502);
		expect(shown.body).toContain('<p role="alert">The app exited with code 4.</p>');
		expect(shown.body).toContain('<pre>exiting on purpose</pre>');
		expect(shown.body).toContain('<meta http-equiv="refresh" content="3">');
		const asked = await worker.preview(at('/api'));
		expect(asked.status).toBe(502);
		expect(JSON.parse(asked.body)).toEqual({ error: 'The app exited with code 4.', code: 'PREVIEW_UNAVAILABLE' });
		const problem = await problemOf(id, 'exited');
		expect(problem!.log).toEqual([{ stream: 'stdout', text: 'exiting on purpose' }]);

		// Restarted, it answers again, under the same URL, and the problem is gone.
		expect(await worker.coordinator(id, 'restartApp')).toEqual({ ok: true });
		const state = await worker.settled(id);
		expect(state).toMatchObject({ status: 'ready', previewUrl, problem: null });
		expect((await worker.preview(at('/'), page)).body).toBe('fine');
	});

	it('an app that stopped listening, then exited: the preview says so at its next reload, not what it saw before', async () => {
		expect((await worker.preview(at('/leave'))).body).toBe('leaving');
		let shown = await worker.preview(at('/'), page);
		for (let tries = 0; shown.status !== 502 && tries < 20; tries++) shown = await sleep(100).then(() => worker.preview(at('/'), page));
		expect(shown.body).toContain('Nothing listens on port 3001');
		// Past the app's exit (4 s after /leave), the page reloads (every 3 s).
		await sleep(4_500);
		shown = await worker.preview(at('/'), page);
		expect(shown.body).toContain('<p role="alert">The app exited with code 5.</p>');
	});

	it('an app that stopped listening but runs on: nothing listens on its port', async () => {
		expect((await worker.preview(at('/close'))).body).toBe('closing');
		let shown = await worker.preview(at('/'));
		for (let tries = 0; shown.status !== 502 && tries < 20; tries++) shown = await sleep(100).then(() => worker.preview(at('/')));
		expect(JSON.parse(shown.body).error).toBe("Nothing listens on port 3001, though the app's process is running: it closed its server, or never opened one there.");
		await problemOf(id, 'not-listening');
	});
});

describe('a restart', () => {
	it('says the app is starting while it does, and leaves the sandbox running when the app fails to come back', async () => {
		const id = newId('once');
		await worker.start(id, { template: 'once' });
		const ready = await worker.settled(id);
		expect(ready.status).toBe('ready');
		const before = worker.containers(id);

		expect(await worker.coordinator(id, 'restartApp')).toEqual({ ok: true });
		const during = await worker.preview(new URL('/', ready.previewUrl!).href, { accept: 'text/html' });
		expect(during.status).toBe(502);
		expect(during.body).toMatch(/The app is starting: (Stopping the app|Starting the Express server|Waiting for the server to answer)…/);

		const after = await worker.settled(id);
		expect(after).toMatchObject({ status: 'ready', previewUrl: ready.previewUrl, error: null });
		expect(after.problem).toMatchObject({ kind: 'exited', message: 'The app exited with code 3 before it was ready.' });
		expect(after.problem!.log).toEqual([{ stream: 'stderr', text: 'boom on restart' }]);
		expect(after.steps.at(-1)).toMatchObject({ label: 'Waiting for the server to answer', state: 'failed' });
		// The same container, with the app's files, for the visitor to mend.
		expect(worker.containers(id)).toEqual(before);
		await worker.coordinator(id, 'stop', ['done']);
	});

	it('in a container that went away meanwhile, gives a new one the app and starts it', async () => {
		const id = newId('plain');
		await worker.start(id);
		const ready = await worker.settled(id);
		expect(ready.status).toBe('ready');
		const [container] = worker.containers(id);
		const launcher = worker.containerProcesses(id).find((p) => p.cmdline.startsWith('bwrap ') && p.cmdline.includes(`${container}/`))!;
		process.kill(launcher.pid, 'SIGKILL');
		// At once, as a visitor whose preview just failed clicks: the SDK's object may not have heard
		// of the exit yet, and its first call into the dead container fails.
		expect(await worker.coordinator(id, 'restartApp')).toEqual({ ok: true });
		const after = await worker.settled(id);
		expect(after, JSON.stringify(after)).toMatchObject({ status: 'ready', previewUrl: ready.previewUrl, problem: null });
		expect(worker.containers(id)).not.toContain(container);
		expect((await worker.preview(ready.previewUrl!)).body).toContain(`Hello from sandbox ${id}`);
		await worker.coordinator(id, 'stop', ['done']);
	});
});
