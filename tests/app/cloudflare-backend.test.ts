/**
 * The Cloudflare backend and the preview route, against a fake at the narrowest boundary: the
 * object @cloudflare/sandbox's getSandbox() returns (and proxyToSandbox). The SDK itself cannot
 * run here: it needs workerd and a container. Errors are thrown as plain `Error`s, as they arrive
 * after crossing the Durable Object RPC boundary.
 */
import { describe, expect, it } from 'vitest';
import { SandboxManager } from '../../src/lib/server/manager.ts';
import { routePreview } from '../../src/lib/server/preview-route.ts';
import { createCloudflareBackend, translateError, type SandboxSdk } from '../../src/lib/server/sandbox/cloudflare.ts';
import { templates } from '../../src/lib/server/templates.ts';

const HOST = 'preview.example.com:8443';

/** One sandbox's container as the SDK presents it. Tokens outlive a restart; running processes and active ports do not. */
class FakeSdkSandbox {
	calls: string[] = [];
	running = true;
	tokens = new Map<number, string>();
	active = new Set<number>();
	processes = new Map<string, { status: string }>();
	failExecWith: Error | null = null;

	readonly id: string;

	constructor(id: string) {
		this.id = id;
	}

	restart() {
		this.running = false;
		this.active.clear();
		this.processes.clear();
	}

	url(port: number, hostname: string) {
		return `https://${port}-${this.id}-${this.tokens.get(port)}.${hostname}/`;
	}

	async exec(command: string) {
		this.calls.push(`exec ${command.split(' ')[0]}`);
		if (this.failExecWith) throw this.failExecWith;
		this.running = true;
		return { success: true, exitCode: 0, stdout: '', stderr: '', duration: 1, command, timestamp: '' };
	}

	async startProcess(command: string, options: { processId: string }) {
		this.calls.push(`startProcess ${options.processId}`);
		this.processes.set(options.processId, { status: 'running' });
		return this.process(options.processId, command);
	}

	async getProcess(id: string) {
		this.calls.push(`getProcess ${id}`);
		return this.processes.has(id) ? this.process(id, 'node server.js') : null;
	}

	process(id: string, command: string) {
		return {
			id,
			pid: 42,
			command,
			status: this.processes.get(id)?.status ?? 'completed',
			startTime: new Date(0),
			waitForPort: async () => {},
			getStatus: async () => 'running',
			getLogs: async () => ({ stdout: '', stderr: '' }),
			kill: async () => {}
		};
	}

	async exposePort(port: number, options: { hostname: string; token?: string }) {
		this.calls.push(`exposePort ${port} ${options.hostname}`);
		if (!this.tokens.has(port)) this.tokens.set(port, options.token ?? 'tok3n');
		this.active.add(port);
		return { url: this.url(port, options.hostname), port };
	}

	async getExposedPorts(hostname: string) {
		this.calls.push(`getExposedPorts ${hostname}`);
		return [...this.active].map((port) => ({ url: this.url(port, hostname), port, status: 'active' }));
	}

	async destroy() {
		this.calls.push('destroy');
		this.restart();
	}
}

function fakeSdk() {
	const sandboxes = new Map<string, FakeSdkSandbox>();
	const getSandboxCalls: unknown[][] = [];
	const sdk = {
		getSandbox: (namespace: unknown, id: string, options: unknown) => {
			getSandboxCalls.push([namespace, id, options]);
			const key = id.toLowerCase();
			if (!sandboxes.has(key)) sandboxes.set(key, new FakeSdkSandbox(key));
			return sandboxes.get(key)!;
		},
		// Like the SDK's proxy: a token it knows for a container that is not running answers 410.
		proxyToSandbox: async (request: Request) => {
			const [port, ...rest] = new URL(request.url).hostname.split('.')[0].split('-');
			const token = rest.pop();
			const sandbox = sandboxes.get(rest.join('-'));
			if (!sandbox || sandbox.tokens.get(Number(port)) !== token) return Response.json({ code: 'INVALID_TOKEN' }, { status: 404 });
			if (!sandbox.active.has(Number(port))) return Response.json({ code: 'STALE_PREVIEW_URL' }, { status: 410 });
			return new Response('hello from the container');
		}
	} as unknown as SandboxSdk;
	const namespace = { binding: 'Sandbox' };
	const backend = createCloudflareBackend({ Sandbox: namespace as never }, sdk);
	return { sdk, sandboxes, getSandboxCalls, namespace, backend };
}

function managerFor(backend: ReturnType<typeof fakeSdk>['backend']) {
	return new SandboxManager({ backend: async () => backend, templates, ttlMs: 60_000, sleepAfter: 360 });
}

describe('the Cloudflare backend', () => {
	it('asks the SDK for a normalized ID with the sleepAfter it was given', () => {
		const { backend, getSandboxCalls, namespace } = fakeSdk();
		const sandbox = backend.getSandbox('Express-ABC', { sleepAfter: 360 });
		expect(sandbox.id).toBe('express-abc');
		expect(getSandboxCalls).toEqual([[namespace, 'Express-ABC', { normalizeId: true, sleepAfter: 360 }]]);
	});

	it('exposes the port under the request host including its port, and recovers a running app', async () => {
		const { backend, sandboxes } = fakeSdk();
		const manager = managerFor(backend);
		manager.start('express-one', { template: 'express', hostname: HOST });
		const ready = await manager.settled('express-one');
		expect(ready).toMatchObject({ status: 'ready', previewUrl: `https://3001-express-one-tok3n.${HOST}/` });
		const fake = sandboxes.get('express-one')!;
		expect(fake.calls).toContain(`exposePort 3001 ${HOST}`);
		expect(fake.calls[0]).toBe(`getExposedPorts ${HOST}`);

		// A new isolate: the manager forgot, the container did not.
		fake.calls = [];
		const fresh = managerFor(backend);
		fresh.start('express-one', { template: 'express', hostname: HOST });
		expect(await fresh.settled('express-one')).toMatchObject({ status: 'ready', previewUrl: ready!.previewUrl });
		expect(fake.calls).toEqual([`getExposedPorts ${HOST}`, 'getProcess express']);
	});

	it('turns the capacity error, arriving as a plain Error, into a clear retryable message', async () => {
		const { backend, sdk } = fakeSdk();
		const fake = sdk.getSandbox({} as never, 'express-full') as unknown as FakeSdkSandbox;
		fake.failExecWith = new Error('Maximum number of running container instances exceeded');
		const manager = managerFor(backend);
		manager.start('express-full', { template: 'express', hostname: HOST });
		expect(await manager.settled('express-full')).toMatchObject({
			status: 'error',
			error: { message: 'All sandboxes are busy right now. Please try again in a minute.', retryable: true }
		});
	});

	it.each([
		['Maximum number of running container instances exceeded', 'CAPACITY_EXCEEDED', true],
		['There is no container instance that can be provided to this durable object', 'CAPACITY_EXCEEDED', true],
		['ContainerUnavailableError: container is starting', 'BACKEND_UNAVAILABLE', true],
		['Process web exited before port 3001 was ready', 'PROCESS_EXITED_BEFORE_READY', false],
		['Something else broke', 'INTERNAL', false]
	])('matches "%s" by its message', (message, code, retryable) => {
		expect(translateError(new Error(message))).toMatchObject({ code, retryable, message });
	});

	it('passes only real Responses from proxyToSandbox on', async () => {
		const { namespace } = fakeSdk();
		const odd = createCloudflareBackend({ Sandbox: namespace as never }, {
			getSandbox: () => ({}),
			proxyToSandbox: async () => ({ status: 200 })
		} as unknown as SandboxSdk);
		expect(await odd.proxyPreview(new Request(`https://3001-x-tok.${HOST}/`))).toBeNull();
	});
});

describe('the preview route', () => {
	it('boots the sandbox again and re-exposes its port when the preview answers 410 after a restart', async () => {
		const { backend, sandboxes } = fakeSdk();
		const manager = managerFor(backend);
		manager.start('express-two', { template: 'express', hostname: HOST });
		const { previewUrl } = (await manager.settled('express-two'))!;
		const route = (request: Request) =>
			routePreview(request, {
				proxy: (r) => backend.proxyPreview(r),
				revive: async (id, appHost) => {
					manager.revive(id, { template: 'express', hostname: appHost });
				}
			});
		expect(await (await route(new Request(previewUrl!))).text()).toBe('hello from the container');

		const fake = sandboxes.get('express-two')!;
		fake.restart();
		fake.calls = [];
		const waking = await route(new Request(previewUrl!, { headers: { accept: 'text/html' } }));
		expect(waking.status).toBe(503);
		expect(waking.headers.get('retry-after')).toBe('2');
		expect(await waking.text()).toContain('Waking it up');
		const api = await route(new Request(`${previewUrl}api`, { headers: { accept: 'application/json' } }));
		expect(await api.json()).toMatchObject({ code: 'SANDBOX_WAKING' });

		expect(await manager.settled('express-two')).toMatchObject({ status: 'ready', previewUrl });
		expect(fake.calls).toContain('startProcess express');
		expect(fake.calls).toContain(`exposePort 3001 ${HOST}`);
		expect(await (await route(new Request(previewUrl!))).text()).toBe('hello from the container');
	});

	it('refuses a wrong token with 404 and never revives for it', async () => {
		const { backend } = fakeSdk();
		let revived = 0;
		const response = await routePreview(new Request(`https://3001-express-x-nope.${HOST}/`), {
			proxy: (r) => backend.proxyPreview(r),
			revive: async () => {
				revived++;
			}
		});
		expect(response.status).toBe(404);
		expect(revived).toBe(0);
	});
});
