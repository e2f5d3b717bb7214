/**
 * The coordinator of one sandbox: a Durable Object per sandbox ID, so that every request about a
 * sandbox — whichever isolate, on whichever machine, takes it — meets the same state.
 *
 *   start() ──▶ initializing ──▶ ready | error ──stop() or the idle TTL──▶ stopped ──a day──▶ forgotten
 *
 * - The boot runs here, once, however many requests ask; not in a request's `waitUntil`, which
 *   production cuts off 30 s after the response. If the object restarts mid-boot, the alarm (the
 *   watchdog) resumes it, recovering an app that already runs.
 * - Errors are final: the visitor starts a fresh sandbox.
 * - The idle TTL is the alarm: use (`touch`, `touchPreview`, every status read) moves the deadline;
 *   an open socket alone does not. The SDK's `sleepAfter` is the safety net.
 * - Browsers' status sockets are accepted with the hibernation API, and get every change.
 *
 * A class of its own beside the SDK's `Sandbox`, rather than a subclass of it: it runs without a
 * container (it outlives and replaces them), it keeps the app's state apart from the SDK's storage,
 * and the SDK's object stays the SDK's code, unchanged.
 */
import { DurableObject, type WorkerWebSocket } from 'cloudflare:workers';
import * as v from 'valibot';
import { messageFor, type SandboxSnapshot, type Step, type TemplateId } from '../../sandbox-state';
import { openSandbox, type SandboxNamespace } from '../sandbox/cloudflare';
import type { Sandbox } from '../sandbox/types';
import { readSource, SourceFileError, writeSource } from '../source-files';
import { templates, type Template } from '../templates';
import { boot, describeFailure, LATE_START_WINDOW_MS } from './boot';
import { SandboxError } from '../sandbox/types';
import { MAX_MESSAGE_BYTES, type CoordinatorApi, type ReadReply, type StartRequest, type StatusReply, type StatusRequest, type WriteReply } from './contract';

export interface CoordinatorEnv {
	Sandbox: SandboxNamespace;
	/** Idle time before a sandbox is destroyed (default 300). */
	SANDBOX_TTL_SECONDS?: string;
}

const TtlSeconds = v.pipe(v.optional(v.string(), '300'), v.transform(Number), v.integer(), v.minValue(5), v.maxValue(86_400));

/** How often the watchdog looks at a boot: one that is not running in this object is resumed. */
const WATCHDOG_MS = 60_000;
/** The longest a status read waits for a change. */
const MAX_WAIT_MS = 10_000;
/** Use is written down at most this often (a preview's every request counts). */
const TOUCH_WRITE_INTERVAL_MS = 2_000;

/** How often a container that may start late is looked for (and stopped). */
const SWEEP_INTERVAL_MS = 5_000;

/** How long a stopped sandbox's record stays, so that its page can say why it stopped. */
const STOPPED_RECORD_MS = 24 * 3600_000;

interface SandboxRecord {
	state: SandboxSnapshot;
	/** Bumped on every change of `state`. */
	version: number;
	origin: string;
	lastActiveAt: number;
	/** After a container that did not start in time: until when one may still start late, to be stopped. */
	sweepUntil?: number;
}

export class SandboxCoordinator extends DurableObject<CoordinatorEnv> implements CoordinatorApi {
	private record: SandboxRecord | null = null;
	/** The boot under way in this object, if any. */
	private booting: Promise<void> | null = null;
	/** Bumped by every boot and every stop: a boot that finds it changed has been superseded. */
	private generation = 0;
	private lastWrite = 0;
	private readonly waiters = new Set<() => void>();
	private readonly ttlMs: number;

	constructor(ctx: ConstructorParameters<typeof DurableObject<CoordinatorEnv>>[0], env: CoordinatorEnv) {
		super(ctx, env);
		this.ttlMs = v.parse(TtlSeconds, env.SANDBOX_TTL_SECONDS) * 1000;
		void ctx.blockConcurrencyWhile(async () => {
			this.record = (await ctx.storage.get<SandboxRecord>('record')) ?? null;
			// Restarted mid-boot (a deploy, an eviction): the boot died with the old instance. The
			// watchdog resumes it now rather than at its next round.
			if (this.record?.state.status === 'initializing') await ctx.storage.setAlarm(Date.now());
		});
	}

	async start({ id, template, origin }: StartRequest): Promise<SandboxSnapshot> {
		if (!this.record || this.record.state.status === 'stopped') {
			const state: SandboxSnapshot = { id, template, status: 'initializing', steps: [], previewUrl: null, error: null };
			this.record = { state, version: 1, origin, lastActiveAt: Date.now() };
			await this.save();
			this.beginBoot({ recover: false });
		} else {
			await this.touch();
		}
		return this.record.state;
	}

	async status({ after, waitMs = 0 }: StatusRequest = {}): Promise<StatusReply> {
		if (this.record && after === this.record.version && waitMs > 0) await this.changed(Math.min(waitMs, MAX_WAIT_MS));
		await this.touch();
		return this.record && { state: this.record.state, version: this.record.version, ttlMs: this.ttlMs };
	}

	async touch(): Promise<void> {
		if (!this.record) return;
		this.record.lastActiveAt = Date.now();
		if (this.record.lastActiveAt - this.lastWrite > TOUCH_WRITE_INTERVAL_MS) await this.save();
	}

	async touchPreview(host: string): Promise<void> {
		const previewUrl = this.record?.state.previewUrl;
		if (previewUrl && new URL(previewUrl).host === host.toLowerCase()) await this.touch();
	}

	async revive(): Promise<void> {
		if (this.record?.state.status !== 'ready') return; // under way already, failed, or stopped
		console.log(`[coordinator] waking ${this.record.state.id}: its container went away`);
		Object.assign(this.record.state, { status: 'initializing', steps: [], previewUrl: null, error: null });
		await this.changedState();
		// Not a recovery: the container is gone. Exposing the port again keeps the preview URL.
		this.beginBoot({ recover: false });
	}

	async stop(reason: string): Promise<void> {
		const record = this.record;
		if (!record || record.state.status === 'stopped') return;
		console.log(`[coordinator] stopping ${record.state.id}: ${reason}`);
		this.generation++; // a boot under way stops at its next step
		Object.assign(record.state, { status: 'stopped', steps: [], previewUrl: null, error: { message: reason, retryable: true } });
		await this.changedState();
		for (const socket of this.ctx.getWebSockets()) closeQuietly(socket, 1000, 'sandbox stopped');
		// What the visitor is told is kept a while (their page may ask), then forgotten.
		await this.ctx.storage.setAlarm(Date.now() + STOPPED_RECORD_MS);
		await this.sandbox(record.state.id)
			.destroy()
			.catch((error) => console.error(`[coordinator] destroying ${record.state.id} failed`, error));
	}

	async readSource(path: string): Promise<ReadReply> {
		const sandbox = this.readySandbox();
		if (!sandbox) return notRunning;
		await this.touch();
		try {
			return { ok: true, content: await readSource(sandbox, path) };
		} catch (error) {
			return refusal(error, `${path} could not be read from the sandbox.`);
		}
	}

	async writeSource(path: string, content: string): Promise<WriteReply> {
		const sandbox = this.readySandbox();
		const sources = this.record && this.template(this.record.state.template).sources;
		if (!sandbox || !sources) return notRunning;
		await this.touch();
		try {
			await writeSource(sandbox, path, content);
			return { ok: true, hotReloaded: (await sources.liveClients(sandbox).catch(() => 0)) > 0 };
		} catch (error) {
			return refusal(error, 'The sandbox did not take the file. Try saving again.');
		}
	}

	/** The browser's status socket: the current state at once, then every change. */
	async fetch(request: Request): Promise<Response> {
		if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('WebSocket only', { status: 426 });
		if (!this.record) return new Response('No such sandbox', { status: 404 });
		const { 0: client, 1: server } = new WebSocketPair();
		this.ctx.acceptWebSocket(server);
		server.send(this.message());
		return new Response(null, { status: 101, webSocket: client });
	}

	/** A message from the browser is a protocol violation: that socket is closed, nothing else. */
	webSocketMessage(socket: WorkerWebSocket, data: string | ArrayBuffer) {
		closeQuietly(socket, ...refusalCode(data));
	}

	webSocketClose(socket: WorkerWebSocket, code: number) {
		// Completes the closing handshake (1005/1006 may not be sent back).
		closeQuietly(socket, code === 1005 || code === 1006 ? 1000 : code, '');
	}

	/** The watchdog while a boot is under way, the idle TTL after. */
	async alarm() {
		const record = this.record;
		if (!record) return;
		if (record.state.status === 'stopped') {
			this.record = null;
			return this.ctx.storage.deleteAll();
		}
		if (record.state.status === 'initializing') {
			if (!this.booting) {
				console.log(`[coordinator] resuming the boot of ${record.state.id}`);
				this.beginBoot({ recover: true });
			}
			return this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
		}
		if (record.sweepUntil && Date.now() < record.sweepUntil) {
			// The SDK may still be starting the container that missed its deadline: stop it if it has.
			await this.sandbox(record.state.id).destroy().catch(() => {});
			return this.ctx.storage.setAlarm(Date.now() + SWEEP_INTERVAL_MS);
		}
		const idleMs = Date.now() - record.lastActiveAt;
		if (idleMs >= this.ttlMs) return this.stop(`It was stopped after ${duration(idleMs)} without use.`);
		await this.ctx.storage.setAlarm(record.lastActiveAt + this.ttlMs);
	}

	private beginBoot({ recover }: { recover: boolean }) {
		const generation = ++this.generation;
		const run = this.boot(generation, recover).finally(() => {
			if (this.booting === run) this.booting = null;
		});
		this.booting = run;
		this.ctx.waitUntil(run);
		void this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
	}

	private async boot(generation: number, recover: boolean) {
		const record = this.record!;
		const { id, template } = record.state;
		const current = () => this.generation === generation && this.record === record;
		const sandbox = this.sandbox(id);
		console.log(`[coordinator] booting ${id}`);
		try {
			const previewUrl = await boot({
				sandbox,
				template: this.template(template),
				origin: record.origin,
				recover,
				progress: (label) => {
					if (!current()) throw new Error('superseded');
					this.step(label);
				}
			});
			if (!current()) throw new Error('superseded');
			await this.finish({ status: 'ready', previewUrl });
		} catch (error) {
			if (!current()) {
				// Stopped mid-boot: a call made since may have woken a container. Stop it too, unless a
				// new boot owns the sandbox by now.
				if (this.record?.state.status === 'stopped') await sandbox.destroy().catch(() => {});
				return;
			}
			console.error(`[coordinator] ${id} failed to start`, error);
			if (error instanceof SandboxError && error.code === 'CAPACITY_EXCEEDED') record.sweepUntil = Date.now() + LATE_START_WINDOW_MS;
			await this.finish({ status: 'error', error: describeFailure(error) });
			// Done for: free its container now rather than at the TTL.
			await sandbox.destroy().catch(() => {});
		}
		record.lastActiveAt = Date.now();
		await this.save();
		await this.ctx.storage.setAlarm(record.sweepUntil ? Date.now() + SWEEP_INTERVAL_MS : record.lastActiveAt + this.ttlMs);
	}

	/** The template a sandbox boots (a test's subclass may boot one of its own). */
	protected template(id: TemplateId): Template {
		return templates[id];
	}

	private readySandbox(): Sandbox | null {
		return this.record?.state.status === 'ready' ? this.sandbox(this.record.state.id) : null;
	}

	private sandbox(id: string): Sandbox {
		// The SDK's own idle stop, a minute after ours: it only matters if the alarm is lost.
		return openSandbox(this.env.Sandbox, id, { sleepAfter: this.ttlMs / 1000 + 60 });
	}

	private step(label: string) {
		const now = Date.now();
		this.closeActiveStep('done', now);
		this.record!.state.steps.push({ label, state: 'active', startedAt: now, durationMs: null });
		void this.changedState();
	}

	private async finish(outcome: Partial<SandboxSnapshot>) {
		this.closeActiveStep(outcome.status === 'error' ? 'failed' : 'done', Date.now());
		Object.assign(this.record!.state, outcome);
		await this.changedState();
	}

	private closeActiveStep(state: Step['state'], now: number) {
		const active = this.record!.state.steps.at(-1);
		if (active?.state === 'active') {
			active.state = state;
			active.durationMs = now - active.startedAt;
		}
	}

	/** Saves a change of state and tells every socket and waiting status read. */
	private async changedState() {
		this.record!.version++;
		const message = this.message();
		for (const socket of this.ctx.getWebSockets()) sendQuietly(socket, message);
		this.notifyWaiters();
		await this.save();
	}

	private message(): string {
		return JSON.stringify(messageFor(this.record!.state));
	}

	private async save() {
		if (!this.record) return;
		this.lastWrite = Date.now();
		await this.ctx.storage.put('record', this.record);
	}

	private changed(waitMs: number): Promise<void> {
		return new Promise((resolve) => {
			const done = () => {
				clearTimeout(timer);
				this.waiters.delete(done);
				resolve();
			};
			const timer = setTimeout(done, waitMs);
			this.waiters.add(done);
		});
	}

	private notifyWaiters() {
		for (const waiter of [...this.waiters]) waiter();
	}
}

const notRunning = { ok: false, status: 409, message: 'The sandbox is not running right now. Wait until it is ready, then save again.' } as const;

function refusal(error: unknown, otherwise: string) {
	if (error instanceof SourceFileError) return { ok: false as const, status: error.status, message: error.message };
	console.error('[coordinator] file operation failed', error);
	return { ok: false as const, status: 502 as const, message: otherwise };
}

/**
 * The close code for a message from the browser: 1009 when it is over the limit, 1007 when it was
 * not UTF-8, 1008 (policy) for any other. workerd hands text over already decoded, with invalid
 * bytes replaced by U+FFFD — a character this socket's nonexistent protocol has no use for, so it
 * is taken as the sign.
 */
function refusalCode(data: string | ArrayBuffer): [code: number, reason: string] {
	const bytes = typeof data === 'string' ? new TextEncoder().encode(data).byteLength : data.byteLength;
	if (bytes > MAX_MESSAGE_BYTES) return [1009, 'Message too big'];
	if (typeof data === 'string' && data.includes('\uFFFD')) return [1007, 'Invalid UTF-8'];
	return [1008, 'This socket only sends'];
}

function duration(ms: number): string {
	const seconds = Math.round(ms / 1000);
	return seconds < 120 ? `${seconds} seconds` : `${Math.round(seconds / 60)} minutes`;
}

function sendQuietly(socket: WorkerWebSocket, message: string) {
	try {
		socket.send(message);
	} catch {
		// Closing or closed: its close event tidies up.
	}
}

function closeQuietly(socket: WorkerWebSocket, code: number, reason: string) {
	try {
		socket.close(code, reason);
	} catch {
		// Already closed.
	}
}
