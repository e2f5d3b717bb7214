import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/lib/sandbox-state.ts';
import { SandboxManager, type ClientSocket } from '../../src/lib/server/manager.ts';
import { templates, type Template } from '../../src/lib/server/templates.ts';
import { startTestRuntime, waitFor, type TestRuntime } from '../helpers/local-runtime.ts';

const HOST = 'localhost:5173';
let runtime: TestRuntime;
const managers: SandboxManager[] = [];

beforeAll(async () => {
	runtime = await startTestRuntime();
});
afterAll(async () => {
	await Promise.all(managers.map((manager) => manager.destroyAll()));
	await runtime?.stop();
});

/** The real Express template, counting how often it initializes. */
function countingExpress() {
	const counter = { calls: 0 };
	const template: Template = {
		...templates.express,
		initialize: async (context) => {
			counter.calls++;
			await templates.express.initialize(context);
		}
	};
	return { counter, template };
}

function managerWith(template: Template, options: { ttlMs?: number; rt?: TestRuntime } = {}) {
	const manager = new SandboxManager({
		backend: async () => (options.rt ?? runtime).backend,
		templates: { ...templates, express: template },
		ttlMs: options.ttlMs ?? 60_000,
		sleepAfter: 120
	});
	managers.push(manager);
	return manager;
}

class RecordingSocket implements ClientSocket {
	messages: ServerMessage[] = [];
	closed = false;
	send(text: string) {
		this.messages.push(JSON.parse(text));
	}
	close() {
		this.closed = true;
	}
}

async function runtimeKnows(id: string) {
	const list = (await (await runtime.control('/v1/sandboxes')).json()) as { id: string; state: string }[];
	return list.some((entry) => entry.id === id && entry.state !== 'sleeping');
}

describe('SandboxManager against the local runtime', () => {
	it('initializes once however many starts race, and serves the template through its preview URL', async () => {
		const { counter, template } = countingExpress();
		const manager = managerWith(template);
		const states = await Promise.all(
			Array.from({ length: 10 }, async () => manager.start('mgr-race', { template: 'express', hostname: HOST }))
		);
		expect(states.every((state) => state.status === 'initializing')).toBe(true);

		const ready = await manager.settled('mgr-race');
		expect(ready?.status).toBe('ready');
		expect(counter.calls).toBe(1);
		expect(ready?.steps.every((step) => step.state === 'done' && step.durationMs !== null)).toBe(true);
		expect(ready?.previewUrl).toMatch(/^http:\/\/3001-mgr-race-[a-z0-9_]+\.localhost:5173\/$/);

		const response = await runtime.preview(ready!.previewUrl!);
		expect(await response.json()).toMatchObject({ sandbox: 'mgr-race', message: 'Hello from sandbox mgr-race' });
		expect(manager.start('mgr-race', { template: 'express', hostname: HOST }).status).toBe('ready');
		expect(counter.calls).toBe(1);
	});

	it('recovers a running app after losing its state, without initializing again', async () => {
		const first = countingExpress();
		const before = managerWith(first.template);
		before.start('mgr-recover', { template: 'express', hostname: HOST });
		const ready = await before.settled('mgr-recover');

		// A new isolate: a new manager that knows nothing, the same sandbox.
		const second = countingExpress();
		const after = managerWith(second.template);
		after.start('mgr-recover', { template: 'express', hostname: HOST });
		const recovered = await after.settled('mgr-recover');
		expect(recovered).toMatchObject({ status: 'ready', previewUrl: ready!.previewUrl });
		expect(second.counter.calls).toBe(0);
		expect(recovered!.steps.map((step) => step.label)).toEqual(['Connecting to the sandbox']);
	});

	it('destroys a sandbox after the idle TTL', async () => {
		const { template } = countingExpress();
		const manager = managerWith(template, { ttlMs: 1500 });
		manager.start('mgr-ttl', { template: 'express', hostname: HOST });
		await manager.settled('mgr-ttl');
		expect(await runtimeKnows('mgr-ttl')).toBe(true);
		await waitFor(async () => !(await runtimeKnows('mgr-ttl')), { timeout: 8000 });
		expect(manager.state('mgr-ttl')).toBeNull();
	});

	it('counts preview requests as activity only for the preview host it issued, token included', async () => {
		const { template } = countingExpress();
		const manager = managerWith(template, { ttlMs: 1500 });
		manager.start('mgr-touch', { template: 'express', hostname: HOST });
		const host = new URL((await manager.settled('mgr-touch'))!.previewUrl!).host;
		const guessed = host.replace(/^(3001-mgr-touch-)[a-z0-9_]+/, '$1guessedtoken0000');
		expect(guessed).not.toBe(host);

		// Requests for the real preview host keep the sandbox alive past its TTL…
		for (const stop = Date.now() + 3000; Date.now() < stop; ) {
			manager.touchPreview('mgr-touch', host);
			await new Promise((resolve) => setTimeout(resolve, 250));
		}
		expect(await runtimeKnows('mgr-touch')).toBe(true);
		// …requests with a guessed token do not.
		await waitFor(
			async () => {
				manager.touchPreview('mgr-touch', guessed);
				return !(await runtimeKnows('mgr-touch'));
			},
			{ timeout: 8000, interval: 250 }
		);
	});

	it('stops a boot whose sandbox is destroyed meanwhile, without waking a new container', async () => {
		const gate = Promise.withResolvers<void>();
		const finished = Promise.withResolvers<void>();
		const gated: Template = {
			...templates.express,
			initialize: async (context) => {
				await context.sandbox.exec('true'); // the container runs
				context.progress('Waiting at the gate');
				await gate.promise;
				// The Express boot's first call would wake a fresh container, had the boot not stopped.
				await templates.express.initialize(context).finally(finished.resolve);
			}
		};
		const manager = managerWith(gated);
		manager.start('mgr-stopped', { template: 'express', hostname: HOST });
		await waitFor(() => manager.state('mgr-stopped')?.steps.at(-1)?.label === 'Waiting at the gate');
		expect(await runtimeKnows('mgr-stopped')).toBe(true);

		await manager.destroy('mgr-stopped');
		gate.resolve();
		await finished.promise;
		expect(await runtimeKnows('mgr-stopped')).toBe(false);
		expect(manager.state('mgr-stopped')).toBeNull();
	});

	it('keeps an error final: no retry loop, and the failed sandbox is destroyed', async () => {
		let calls = 0;
		const crashing: Template = {
			...templates.express,
			initialize: async ({ sandbox, progress }) => {
				calls++;
				progress('Starting a server that crashes');
				const server = await sandbox.startProcess('echo "boom" >&2; exit 3', { processId: 'express' });
				await server.waitForPort(3001, { timeout: 10_000 });
			}
		};
		const manager = managerWith(crashing);
		manager.start('mgr-error', { template: 'express', hostname: HOST });
		const failed = await manager.settled('mgr-error');
		expect(failed).toMatchObject({
			status: 'error',
			previewUrl: null,
			error: { message: 'The app in the sandbox stopped before it was ready.', retryable: true }
		});
		expect(failed!.steps.at(-1)?.state).toBe('failed');

		expect(manager.start('mgr-error', { template: 'express', hostname: HOST }).status).toBe('error');
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(calls).toBe(1);
		await waitFor(async () => !(await runtimeKnows('mgr-error')));
	});

	it('sends the current state to a WebSocket at once, then every step, and prunes dead sockets', async () => {
		const { template } = countingExpress();
		const manager = managerWith(template);
		manager.start('mgr-socket', { template: 'express', hostname: HOST });
		const early = new RecordingSocket();
		manager.connect('mgr-socket', early);
		const dead = {
			sends: 0,
			send() {
				this.sends++;
				throw new Error('socket gone');
			},
			close() {}
		};
		manager.connect('mgr-socket', dead);
		await manager.settled('mgr-socket');

		expect(early.messages[0].type).toBe('progress');
		expect(early.messages.at(-1)).toMatchObject({ type: 'ready', state: { status: 'ready' } });
		const stepCounts = early.messages.map((message) => message.state.steps.length);
		expect(stepCounts).toEqual([...stepCounts].sort((a, b) => a - b));
		expect(stepCounts.at(-1)).toBe(6);
		expect(dead.sends).toBe(1);

		const late = new RecordingSocket();
		manager.connect('mgr-socket', late);
		expect(late.messages).toHaveLength(1);
		expect(late.messages[0]).toMatchObject({ type: 'ready', state: { previewUrl: expect.stringContaining('3001-mgr-socket-') } });
	});

	it('tells the visitor clearly when every sandbox is busy', async () => {
		const small = await startTestRuntime({ LOCAL_SANDBOX_MAX: '1' });
		try {
			const { template } = countingExpress();
			const manager = managerWith(template, { rt: small });
			manager.start('mgr-cap-one', { template: 'express', hostname: HOST });
			await manager.settled('mgr-cap-one');
			manager.start('mgr-cap-two', { template: 'express', hostname: HOST });
			expect(await manager.settled('mgr-cap-two')).toMatchObject({
				status: 'error',
				error: { message: 'All sandboxes are busy right now. Please try again in a minute.', retryable: true }
			});
			await manager.destroyAll();
		} finally {
			await small.stop();
		}
	});
});
