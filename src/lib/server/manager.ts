/**
 * The one sandbox manager behind the form actions, the state endpoint and the
 * WebSocket route. Backend-agnostic: it drives the `SandboxBackend` interface.
 *
 *   idle ──start()──▶ initializing ──▶ ready
 *                                  └──▶ error   (final: the visitor retries with a fresh sandbox)
 *
 * - `start` is idempotent: polling, double clicks, concurrent requests and
 *   reloads all get the same run; one sandbox is never initialized twice at once.
 * - Recovery: before initializing it asks the sandbox what already runs. If the
 *   app is up (this isolate lost its state, say) it goes straight to ready.
 * - TTL: every status check, WebSocket message and preview request touches the
 *   sandbox; after `ttlMs` without one it is destroyed. `sleepAfter` (passed to
 *   the backend) is the safety net when this process's timers are lost.
 */
import { messageFor, type SandboxSnapshot, type Step, type TemplateId } from '$lib/sandbox-state';
import type { Template } from './templates';
import { SandboxError, type Sandbox, type SandboxBackend } from './sandbox/types';

/** The manager's view of a WebSocket: what both `ws` (dev) and `WebSocketPair` (workerd) can do. */
export interface ClientSocket {
	send(text: string): void;
	close(code?: number, reason?: string): void;
}

export interface ManagerOptions {
	backend: () => Promise<SandboxBackend>;
	templates: Record<TemplateId, Template>;
	/** Idle time after which a sandbox is destroyed. */
	ttlMs: number;
	/** The backend's own idle timeout: the safety net for lost timers. */
	sleepAfter: string | number;
	log?: (message: string, error?: unknown) => void;
}

export interface StartOptions {
	template: TemplateId;
	/** The app's request host with its port (`url.host`): preview URLs hang off it. */
	hostname: string;
	/** Keeps the worker alive while initialization runs after the response (workerd's `waitUntil`). */
	waitUntil?: (promise: Promise<unknown>) => void;
}

interface Entry {
	state: SandboxSnapshot;
	/** Bumped on every change of `state`. */
	version: number;
	/** Each socket, with the version it last received. */
	sockets: Map<ClientSocket, number>;
	ttl: ReturnType<typeof setTimeout> | null;
	run: Promise<void> | null;
	/** Set by `destroy`: a boot still under way stops at its next step and cleans up after itself. */
	destroyed: boolean;
}

/** How long the first call may wait for a container to start, beyond the backend's own capacity retries. */
const CONTAINER_START_TIMEOUT_MS = 30_000;

/** Thrown inside a boot whose sandbox was destroyed meanwhile. */
class BootCancelled extends Error {}

export class SandboxManager {
	private readonly options: ManagerOptions;
	private readonly entries = new Map<string, Entry>();

	constructor(options: ManagerOptions) {
		this.options = options;
	}

	/** Starts the sandbox if it is idle, and returns its state. Safe to call any number of times. */
	start(id: string, { template, hostname, waitUntil }: StartOptions): SandboxSnapshot {
		const entry = this.entry(id, template);
		this.touch(id);
		if (entry.state.status === 'idle') {
			entry.state.status = 'initializing';
			entry.run = this.initialize(entry, this.options.templates[template], hostname);
			waitUntil?.(entry.run);
		}
		return structuredClone(entry.state);
	}

	/**
	 * Boots a sandbox again whose container went away while this manager still thought it ready (its
	 * preview answered 410). Under way or failed boots are left alone; re-exposing the port keeps the
	 * preview URL, since tokens outlive the container.
	 */
	revive(id: string, options: StartOptions): SandboxSnapshot {
		const entry = this.entries.get(id);
		if (entry?.state.status === 'ready') {
			Object.assign(entry.state, { status: 'idle', steps: [], previewUrl: null, error: null });
		}
		return this.start(id, options);
	}

	/** The current state, or null for a sandbox this manager does not know. Counts as activity. */
	state(id: string): SandboxSnapshot | null {
		const entry = this.entries.get(id);
		if (!entry) return null;
		this.touch(id);
		return structuredClone(entry.state);
	}

	/** The sandbox if its app is ready, for work on the running app (the editor's saves); null otherwise. */
	async readySandbox(id: string): Promise<Sandbox | null> {
		if (this.entries.get(id)?.state.status !== 'ready') return null;
		this.touch(id);
		return this.sandbox(id);
	}

	/** Resolves when the sandbox's current run has settled (for tests and benchmarks). */
	async settled(id: string): Promise<SandboxSnapshot | null> {
		await this.entries.get(id)?.run;
		return this.state(id);
	}

	/**
	 * Adds a browser's WebSocket: it gets the current state at once, then every
	 * change. Returns what the route calls to catch the socket up, and when it closes.
	 */
	connect(id: string, socket: ClientSocket) {
		const entry = this.entries.get(id);
		if (!entry) throw new Error(`connect() before start() for ${id}`);
		entry.sockets.set(socket, -1);
		this.touch(id);
		this.deliver(entry, socket, true);
		return {
			/**
			 * Sends the socket what it has missed, and says whether it now has a final state. The route
			 * calls this from the socket's own request: workerd refuses to send on a socket from another
			 * request's context — such as the boot, which runs in the request that started it — so there
			 * the broadcasts fail and this is how the socket catches up. In Node it finds nothing to do.
			 */
			sync: () => {
				this.deliver(entry, socket, true);
				return entry.sockets.get(socket) === entry.version && (entry.state.status === 'ready' || entry.state.status === 'error');
			},
			closed: () => entry.sockets.delete(socket)
		};
	}

	/** Marks the sandbox as in use (preview traffic counts too), restarting its TTL. */
	touch(id: string) {
		const entry = this.entries.get(id);
		if (!entry) return;
		if (entry.ttl) clearTimeout(entry.ttl);
		entry.ttl = setTimeout(() => {
			this.options.log?.(`sandbox ${id} idle for ${this.options.ttlMs / 1000} s: destroying it`);
			void this.destroy(id);
		}, this.options.ttlMs);
	}

	/**
	 * Counts a request for a preview host as activity — only with the host this manager issued, token
	 * included, so that guessing at a sandbox's preview URLs cannot keep it alive.
	 */
	touchPreview(id: string, host: string) {
		const previewUrl = this.entries.get(id)?.state.previewUrl;
		if (previewUrl && new URL(previewUrl).host === host) this.touch(id);
	}

	/** Destroys the sandbox and forgets it; its WebSockets are closed. */
	async destroy(id: string) {
		const entry = this.entries.get(id);
		if (entry) {
			entry.destroyed = true;
			this.entries.delete(id);
			if (entry.ttl) clearTimeout(entry.ttl);
			for (const socket of entry.sockets.keys()) closeQuietly(socket);
		}
		try {
			await (await this.sandbox(id)).destroy();
		} catch (error) {
			this.options.log?.(`destroying sandbox ${id} failed`, error);
		}
	}

	/** Destroys every sandbox this manager knows (at shutdown). */
	async destroyAll() {
		await Promise.all([...this.entries.keys()].map((id) => this.destroy(id)));
	}

	private entry(id: string, template: TemplateId): Entry {
		let entry = this.entries.get(id);
		if (!entry) {
			const state: SandboxSnapshot = { id, template, status: 'idle', steps: [], previewUrl: null, error: null };
			entry = { state, version: 0, sockets: new Map(), ttl: null, run: null, destroyed: false };
			this.entries.set(id, entry);
		}
		return entry;
	}

	private async sandbox(id: string): Promise<Sandbox> {
		return (await this.options.backend()).getSandbox(id, { sleepAfter: this.options.sleepAfter });
	}

	private async initialize(entry: Entry, template: Template, hostname: string) {
		const { id } = entry.state;
		const stillWanted = () => {
			if (entry.destroyed) throw new BootCancelled();
		};
		const progress = (label: string) => {
			stillWanted();
			this.step(entry, label);
		};
		try {
			const sandbox = await this.sandbox(id);
			progress('Connecting to the sandbox');
			const recovered = await this.runningPreview(sandbox, template, hostname);
			stillWanted();
			if (recovered) {
				this.finish(entry, { status: 'ready', previewUrl: recovered });
				return;
			}
			// The container starts with the first call that needs one: a step of its own, so that the
			// progress shows what a slow start waits for (not the template's first step).
			progress('Starting the sandbox');
			await sandbox.exec('true', { timeout: CONTAINER_START_TIMEOUT_MS });
			stillWanted();
			await template.initialize({ sandbox, sandboxId: id, progress });
			progress('Exposing the preview URL');
			const url = await this.expose(sandbox, template.port, hostname);
			stillWanted();
			this.finish(entry, { status: 'ready', previewUrl: url });
		} catch (error) {
			if (entry.destroyed) {
				// Destroyed mid-boot: a call made since may have woken a fresh container. Stop it too,
				// unless the sandbox was started again meanwhile (that boot owns it now).
				const sandbox = await this.sandbox(id).catch(() => null);
				if (!this.entries.has(id)) await sandbox?.destroy().catch(() => {});
				return;
			}
			this.options.log?.(`sandbox ${id} failed to start`, error);
			this.finish(entry, { status: 'error', error: describe(error) });
			// The sandbox is done for: free its slot now rather than at the TTL.
			void this.destroyQuietly(id);
		}
	}

	private async destroyQuietly(id: string) {
		try {
			await (await this.sandbox(id)).destroy();
		} catch {
			// Gone already, or the backend is down: sleepAfter stops it in the end.
		}
	}

	/** The preview URL if the template's app already runs and is exposed (state lost, app alive). */
	private async runningPreview(sandbox: Sandbox, template: Template, hostname: string): Promise<string | null> {
		const exposed = (await sandbox.getExposedPorts(hostname)).find((port) => port.port === template.port);
		if (!exposed) return null;
		const process = await sandbox.getProcess(template.processId);
		return process?.status === 'running' ? exposed.url : null;
	}

	/** Exposes the port; a port that is already exposed counts as success (older SDKs threw). */
	private async expose(sandbox: Sandbox, port: number, hostname: string): Promise<string> {
		try {
			return (await sandbox.exposePort(port, { hostname })).url;
		} catch (error) {
			if (!/already exposed/i.test(String((error as Error)?.message))) throw error;
			const exposed = (await sandbox.getExposedPorts(hostname)).find((p) => p.port === port);
			if (!exposed) throw error;
			return exposed.url;
		}
	}

	private step(entry: Entry, label: string) {
		const now = Date.now();
		this.closeActiveStep(entry, 'done', now);
		entry.state.steps.push({ label, state: 'active', startedAt: now, durationMs: null });
		this.broadcast(entry);
	}

	private finish(entry: Entry, outcome: Partial<SandboxSnapshot>) {
		this.closeActiveStep(entry, outcome.status === 'error' ? 'failed' : 'done', Date.now());
		Object.assign(entry.state, outcome);
		this.broadcast(entry);
	}

	private closeActiveStep(entry: Entry, state: Step['state'], now: number) {
		const active = entry.state.steps.at(-1);
		if (active?.state === 'active') {
			active.state = state;
			active.durationMs = now - active.startedAt;
		}
	}

	private broadcast(entry: Entry) {
		entry.version++;
		for (const socket of entry.sockets.keys()) this.deliver(entry, socket, false);
	}

	/**
	 * Sends the current state unless the socket has it. A failure in the socket's own context means
	 * it is dead, and it is pruned; from another context it may only be workerd's I/O isolation, and
	 * the socket's own `sync` will deliver instead.
	 */
	private deliver(entry: Entry, socket: ClientSocket, ownContext: boolean) {
		if (entry.sockets.get(socket) === entry.version) return;
		try {
			socket.send(JSON.stringify(messageFor(entry.state)));
			entry.sockets.set(socket, entry.version);
		} catch {
			if (!ownContext) return;
			entry.sockets.delete(socket);
			closeQuietly(socket);
		}
	}
}

/** What the visitor is told when a start fails. */
function describe(error: unknown): { message: string; retryable: boolean } {
	const message = String((error as Error)?.message ?? error);
	if (
		(error instanceof SandboxError && error.code === 'CAPACITY_EXCEEDED') ||
		/maximum number of running|no container instance/i.test(message)
	) {
		return { message: 'All sandboxes are busy right now. Please try again in a minute.', retryable: true };
	}
	if (error instanceof SandboxError && error.code === 'BACKEND_UNAVAILABLE') {
		return { message: 'The sandbox service is not reachable right now. Please try again shortly.', retryable: true };
	}
	if (error instanceof SandboxError && error.code === 'PROCESS_EXITED_BEFORE_READY') {
		return { message: 'The app in the sandbox stopped before it was ready.', retryable: true };
	}
	return { message: 'The sandbox could not be started.', retryable: true };
}

function closeQuietly(socket: ClientSocket) {
	try {
		socket.close(1000, 'sandbox destroyed');
	} catch {
		// Already closed.
	}
}
