/**
 * The coordinator of one sandbox: a Durable Object per sandbox ID, so that every request about a
 * sandbox — whichever isolate, on whichever machine, takes it — meets the same state.
 *
 *   start() ──▶ initializing ──▶ ready | error ──stop(), the idle TTL or a reclaim──▶ stopped ──a day──▶ forgotten
 *
 * - A sandbox boots only with a slot from the deployment's Capacity object (capacity.ts), which it
 *   gives back when it stops or fails; at capacity, the start is refused at once, or an unused
 *   sandbox is reclaimed (stopped) to make room.
 * - The boot runs here, once, however many requests ask; not in a request's `waitUntil`, which
 *   production cuts off 30 s after the response. If the object restarts mid-boot, it resumes the
 *   boot when it is loaded again (the alarm is the watchdog), finding the app's process if it runs.
 * - A boot's errors are final: the visitor starts a fresh sandbox. A running sandbox's app may fail
 *   on its own (it exits, stops listening, answers 500): that is its `problem` (app-problems.ts),
 *   found when the preview reaches no server or the app answers 5xx (preview-keeper.ts), and (an
 *   app that exited) when the alarm looks at it; the sandbox stays ready for the visitor to mend
 *   the app (app-tools.ts) and restart it (`restartApp`), and a restart the app fails leaves it so too.
 * - One alarm does the timed work (`alarm`; what is due and when, alarm-schedule.ts): the watchdog
 *   during a boot; the idle TTL after — use (`touch`, `touchPreview`, every status read) moves its deadline, an open socket
 *   alone does not — with a look at the app's process meanwhile, which also renews the SDK's own
 *   idle timer (`sleepAfter`, the safety net); stopping a container the SDK starts late; and
 *   forgetting a stopped sandbox.
 * - Browsers' status sockets are accepted with the hibernation API, and get every change.
 * - A sandbox may also boot for its template's warm pool (pool.ts: `prewarm`), nobody's and with no
 *   preview, its TTL the pool's; a visitor's `start` then claims it (only its preview is left to
 *   make), and its pool is told when it is ready, and when it stops or fails unclaimed.
 *
 * This file is the lifecycle and the object's methods; its parts are beside it: the record, saved
 * and told (record-keeper.ts), one boot's outcome (boot-run.ts), the objects it calls (neighbours.ts),
 * its TTLs (lifetimes.ts), the visitor's tools (app-tools.ts) and the preview (preview-keeper.ts).
 *
 * A class of its own beside the SDK's `Sandbox`, rather than a subclass of it: it runs without a
 * container (it outlives and replaces them), it keeps the app's state apart from the SDK's storage,
 * and the SDK's object stays the SDK's code, unchanged.
 */
import { DurableObject, type WorkerWebSocket } from 'cloudflare:workers';
import { diagnose } from '../app-problems';
import type { LogLine } from '../../app-logs';
import { spokenDuration } from '../../durations';
import type { Sandbox } from '../sandbox/types';
import { templateOf, type Template } from '../templates/catalog';
import { dueWork, nextAlarm } from './alarm-schedule';
import { AppTools, NOT_RUNNING, type ReadyApp } from './app-tools';
import { APP_PROCESS_ID, LATE_START_WINDOW_MS, type BootOptions, type RestoreStep } from './boot';
import { runBoot } from './boot-run';
import { lifetimesOf, type Lifetimes } from './lifetimes';
import { Neighbours, type CoordinatorEnv } from './neighbours';
import { RecordKeeper } from './record-keeper';
import { closedByBrowser, refuseMessage } from './status-feed';
import { PreviewKeeper } from './preview-keeper';
import { claimRecord, newRecord, secretsOf, stoppedState, timing, unclaimed, type Owner, type SandboxRecord } from './sandbox-record';
import {
	API_CALL_PATH,
	LOGS_PATH,
	TERMINAL_PATH,
	type CoordinatorApi,
	type PreviewAccess,
	type PreviewAnswer,
	type PreviewDiagnosis,
	type PreviewTicketReply,
	type ReadReply,
	type RestartReply,
	type PrewarmReply,
	type PrewarmRequest,
	type StartReply,
	type StartRequest,
	type StatusReply,
	type StatusRequest,
	type Usage,
	type WriteReply
} from './contract';

/** The template of a sandbox: one of the catalog's, as its start checked. */
const templateNamed = (id: string): Template => templateOf(id)!;

/** How long after a stop a container is still looked for: a call under way at the stop may wake one. */
const AFTER_STOP_SWEEP_MS = 60_000;

/** How long a stopped sandbox's record stays, so that its page can say why it stopped. */
const STOPPED_RECORD_MS = 24 * 3600_000;

export class SandboxCoordinator extends DurableObject<CoordinatorEnv> implements CoordinatorApi {
	private readonly keeper: RecordKeeper;
	/** The boot under way in this object, if any. */
	private booting: Promise<void> | null = null;
	/** Bumped by every boot and every stop: a boot that finds it changed has been superseded. */
	private generation = 0;
	private readonly neighbours: Neighbours;
	private readonly tools = new AppTools(() => this.readyApp());
	private readonly preview = new PreviewKeeper({
		record: () => this.record,
		generation: () => this.generation,
		sandbox: (record) => this.neighbours.sandbox(record.state.id),
		port: (record) => templateNamed(record.state.template).port,
		touch: () => this.keeper.used(),
		save: () => this.keeper.save(),
		changedState: () => this.keeper.changedState()
	});
	private readonly lifetimes: Lifetimes;

	/** The sandbox's record (record-keeper.ts keeps it). */
	private get record(): SandboxRecord | null {
		return this.keeper.record;
	}

	constructor(ctx: ConstructorParameters<typeof DurableObject<CoordinatorEnv>>[0], env: CoordinatorEnv) {
		super(ctx, env);
		this.keeper = new RecordKeeper(ctx);
		this.lifetimes = lifetimesOf(env);
		this.neighbours = new Neighbours(env, this.lifetimes.sdkSleepAfterSeconds);
		void ctx.blockConcurrencyWhile(async () => {
			// Restarted mid-boot (a deploy, an eviction): the boot died with the old instance. The
			// watchdog resumes it now rather than at its next round.
			if ((await this.keeper.load())?.state.status === 'initializing') await ctx.storage.setAlarm(Date.now());
		});
	}

	async start({ id, template, origin, visitor }: StartRequest): Promise<StartReply> {
		this.checkName(id, template);
		const owner = { visitor, origin };
		if (this.record && unclaimed(this.record)) {
			if (this.record.state.status === 'ready') return this.claim(this.record, owner);
			// Not ready after all (the pool offers only ready ones): a fresh boot, the visitor's.
			await this.stop('Its pool gave it to a visitor before it was ready.');
		}
		if (this.record && this.record.state.status !== 'stopped') {
			if (this.record.visitor !== visitor) throw new Error(`start(${id}) by ${visitor}: the sandbox is another visitor's`);
			await this.touch();
			return { ok: true, state: this.record.state };
		}
		const slot = await this.neighbours.claimSlot(id, visitor);
		if (!slot.ok) {
			const message = 'All sandboxes are busy right now: every one is in use. Please try again in a minute.';
			return { ok: false, status: 503, message, retryAfterSeconds: slot.retryAfterSeconds };
		}
		// (Two starts of one ID may both have waited for the slot: the first one boots.)
		if (!this.record || this.record.state.status === 'stopped') await this.bootNew(id, template, owner);
		return { ok: true, state: this.record!.state };
	}

	async prewarm({ id, template }: PrewarmRequest): Promise<PrewarmReply> {
		this.checkName(id, template);
		if (this.record && this.record.state.status !== 'stopped') throw new Error(`prewarm(${id}): the sandbox exists already`);
		const slot = await this.neighbours.claimSlot(id, null);
		if (!slot.ok) return slot;
		await this.bootNew(id, template, null);
		return { ok: true };
	}

	/** The routes and pools check what they pass; this object trusts no caller with another sandbox's name. */
	private checkName(id: string, template: string) {
		if (!templateOf(template) || (this.ctx.id.name !== undefined && this.ctx.id.name !== id)) {
			throw new Error(`a start of ${id} (${template}) on the coordinator of ${this.ctx.id.name}`);
		}
	}

	/** A new sandbox boots: for `owner`, or (null) for its template's pool. */
	private async bootNew(id: string, template: string, owner: Owner | null) {
		await this.keeper.replace(newRecord({ id, template, owner, api: Boolean(templateNamed(template).api), now: Date.now() }));
		this.beginBoot('new');
	}

	/**
	 * A ready pooled sandbox becomes the visitor's: its slot is theirs, and its preview is made before
	 * the answer (tens of milliseconds), so that the visitor's page loads with the preview in it.
	 */
	private async claim(record: SandboxRecord, owner: Owner): Promise<StartReply> {
		console.log(`[coordinator] ${record.state.id} leaves its pool for a visitor`);
		claimRecord(record, owner, Date.now());
		await this.keeper.changedState();
		this.beginBoot('claim');
		// (The slot is taken already; this only makes it the visitor's, for reclaims.)
		await Promise.all([this.booting, this.neighbours.claimSlot(record.state.id, owner.visitor)]);
		return { ok: true, state: record.state };
	}

	async ownedBy(visitor: string): Promise<boolean> {
		return this.record !== null && this.record.visitor === visitor;
	}

	async status({ visitor, after, waitMs = 0, gatherMs = 0, previewTicket = false }: StatusRequest): Promise<StatusReply> {
		if (!(await this.ownedBy(visitor))) return null;
		await this.keeper.changeAfter(after, waitMs, gatherMs);
		if (!(await this.ownedBy(visitor))) return null;
		await this.touch();
		const { state, version } = this.record!;
		const ticket = previewTicket && state.status === 'ready' ? await this.preview.issueTicket() : null;
		return { state, version, heartbeatMs: this.lifetimes.heartbeatMs, previewTicket: ticket?.ok ? { previewUrl: ticket.previewUrl, ticket: ticket.ticket } : null };
	}

	touch(): Promise<void> {
		return this.keeper.used();
	}

	touchPreview(host: string): Promise<void> {
		return this.preview.touch(host);
	}

	async isRunning(): Promise<boolean> {
		const status = this.record?.state.status;
		return status === 'initializing' || status === 'ready';
	}

	async usage(): Promise<Usage> {
		return { running: await this.isRunning(), idleMs: this.record ? Date.now() - this.record.lastActiveAt : 0 };
	}

	async reclaim(reason: string, idleForMs?: number, onlyUnclaimed = false): Promise<boolean> {
		const record = this.record;
		if (!record || !(await this.isRunning()) || (onlyUnclaimed && !unclaimed(record))) return false;
		if (idleForMs !== undefined && (record.state.status !== 'ready' || Date.now() - record.lastActiveAt < idleForMs)) return false;
		await this.stop(reason);
		return true;
	}

	issuePreviewTicket(): Promise<PreviewTicketReply> {
		return this.preview.issueTicket();
	}

	redeemPreviewTicket(host: string, ticket: string): Promise<boolean> {
		return this.preview.redeemTicket(host, ticket);
	}

	async previewAccessOf(host: string): Promise<PreviewAccess | null> {
		return this.preview.accessOf(host);
	}

	setPreviewAccess(access: PreviewAccess): Promise<void> {
		return this.preview.setAccess(access);
	}

	async revive(): Promise<boolean> {
		const record = this.record;
		if (record?.state.status === 'initializing') return true; // under way already
		if (record?.state.status !== 'ready') return false; // failed or stopped: nothing to wake
		console.log(`[coordinator] waking ${record.state.id}: its container went away`);
		Object.assign(record.state, { status: 'initializing', steps: [], previewUrl: null, error: null, problem: null });
		await this.keeper.changedState();
		// Exposing the port again keeps the preview URL (tokens outlive containers).
		this.beginBoot('recover');
		return true;
	}

	async restartApp(): Promise<RestartReply> {
		const record = this.record;
		if (record?.state.status !== 'ready') return NOT_RUNNING;
		console.log(`[coordinator] restarting the app of ${record.state.id}`);
		record.lastActiveAt = Date.now();
		// The preview URL stays: the page keeps its terminal and editor open through the restart.
		Object.assign(record.state, { status: 'initializing', steps: [], error: null, problem: null });
		await this.keeper.changedState();
		this.beginBoot('restart');
		return { ok: true };
	}

	diagnosePreview(host: string): Promise<PreviewDiagnosis> {
		return this.preview.diagnose(host);
	}

	previewAnswered(host: string, answer: PreviewAnswer): Promise<void> {
		return this.preview.answered(host, answer);
	}

	async stop(reason: string): Promise<void> {
		const record = this.record;
		if (!record || record.state.status === 'stopped') return;
		console.log(`[coordinator] stopping ${record.state.id}: ${reason}`);
		const keepEdits = record.state.status === 'ready' && record.edited === true;
		this.generation++; // a boot under way stops at its next step
		stoppedState(record.state, reason);
		// What the visitor is told is kept a while (their page may ask), then forgotten.
		record.forgetAt = Date.now() + STOPPED_RECORD_MS;
		await this.keeper.changedState();
		this.tools.closeTerminals();
		// (Before the sweep below is set: the alarm would destroy the container mid-backup.)
		if (keepEdits && (await this.neighbours.saveEdits(record))) {
			record.state.error = { message: `${reason} Your edits are saved: starting this template again brings them back.`, retryable: true };
		}
		// A call into the sandbox still under way (a boot's, an editor's) would start a fresh container
		// after the destroy below: for a while, any container it has is stopped again.
		record.sweepUntil = Math.max(record.sweepUntil ?? 0, Date.now() + AFTER_STOP_SWEEP_MS);
		await this.keeper.changedState();
		this.keeper.feed.closeAll('sandbox stopped');
		await this.neighbours.destroyContainer(record.state.id);
		if (unclaimed(record)) await this.neighbours.tellPool(record.state.id, record.state.template, 'gone');
		// A start may have come meanwhile (a pooled sandbox claimed as it stopped boots afresh): the
		// slot and the alarm are the new boot's then.
		if (this.record !== record) return;
		await this.neighbours.releaseSlot(record.state.id);
		await this.scheduleAlarm();
	}

	readSource(path: string): Promise<ReadReply> {
		return this.tools.readSource(path);
	}

	writeSource(path: string, content: string): Promise<WriteReply> {
		return this.tools.writeSource(path, content);
	}

	recentLogs(): Promise<LogLine[] | null> {
		return this.tools.recentLogs();
	}

	/**
	 * The browser's status socket (a WebSocket upgrade): the current state at once, then every change.
	 * Or the API console's call (POST /api-call), the logs, a terminal: streams, so not RPC methods.
	 */
	async fetch(request: Request): Promise<Response> {
		const path = new URL(request.url).pathname;
		if (request.method === 'POST' && path === API_CALL_PATH) return this.tools.callApi(request);
		if (request.method === 'GET' && path === LOGS_PATH && request.headers.get('upgrade') === null) return this.tools.followLogs();
		if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('WebSocket only', { status: 426 });
		if (path === TERMINAL_PATH) return this.tools.openTerminal(new URL(request.url).searchParams);
		if (!this.record) return new Response('No such sandbox', { status: 404 });
		return this.keeper.feed.subscribe(this.keeper.message());
	}

	webSocketMessage(socket: WorkerWebSocket, data: string | ArrayBuffer) {
		refuseMessage(socket, data);
	}

	webSocketClose(socket: WorkerWebSocket, code: number) {
		closedByBrowser(socket, code);
	}

	/** The app, lent to the visitor's tools (app-tools.ts) while the sandbox is ready. */
	private readyApp(): ReadyApp | null {
		const record = this.record;
		if (record?.state.status !== 'ready') return null;
		return {
			sandbox: this.neighbours.sandbox(record.state.id),
			template: templateNamed(record.state.template),
			secrets: secretsOf(record),
			apiToken: record.apiToken,
			used: () => this.touch(),
			edited: () => this.edited(),
			stopped: () => this.record?.state.status === 'stopped'
		};
	}

	/**
	 * The app's files may differ from the template's now (a save in the editor, a keystroke in a
	 * terminal): they are saved for the visitor when the sandbox stops. Counts as use.
	 */
	private async edited() {
		const record = this.record;
		if (!record) return;
		if (!record.edited) {
			record.edited = true;
			await this.keeper.save();
		}
		await this.touch();
	}

	/**
	 * The app's files are the template's: a fresh copy in a new container, or a pooled sandbox's
	 * (nobody has edited them). A new or claimed sandbox then gets the visitor's saved edits of the
	 * template, if they have any.
	 */
	private async freshApp(record: SandboxRecord, sandbox: Sandbox, mode: BootOptions['mode']): Promise<RestoreStep | null> {
		record.edited = false;
		// Restored, they are kept again at the next stop, for as long again.
		return mode === 'new' || mode === 'claim' ? this.neighbours.restoreStep(record, sandbox, () => (record.edited = true)) : null;
	}

	/** The timed work: whatever is due now, then the next alarm (see the class comment). */
	async alarm() {
		const record = this.record;
		if (!record) return;
		const now = Date.now();
		const work = dueWork(timing(record), now, this.ttlOf(record));
		if (work.sweep) await this.neighbours.destroyContainer(record.state.id);
		if (work.forget) return this.keeper.forget();
		if (work.resumeBoot && !this.booting) {
			console.log(`[coordinator] resuming the boot of ${record.state.id}`);
			this.beginBoot(record.bootMode === 'restart' ? 'restart' : 'recover');
		}
		if (work.idleStop) {
			const idle = spokenDuration(now - record.lastActiveAt);
			return this.stop(unclaimed(record) ? `Nobody claimed it from the pool in ${idle}.` : `It was stopped after ${idle} without use.`);
		}
		if (work.checkApp) await this.checkApp(record);
		await this.scheduleAlarm();
	}

	/**
	 * Looks at a ready sandbox's app: a call into the container, which renews the SDK's idle timer
	 * (status reads and heartbeats reach only this object). A container without the app's process
	 * is a new one (the old one went away): the sandbox boots again. An app that exited in its
	 * container is left as it is, with the evidence on the page, for the visitor to mend and restart.
	 */
	private async checkApp(record: SandboxRecord) {
		const sandbox = this.neighbours.sandbox(record.state.id);
		const process = await sandbox.getProcess(APP_PROCESS_ID).catch(() => null);
		if (this.record !== record || record.state.status !== 'ready' || process?.status === 'running') return;
		// Nobody would mend a pooled app: a fresh one replaces it.
		if (unclaimed(record)) return this.stop(`Its app ${process ? 'exited' : 'went away'} while it waited in the pool.`);
		if (!process) return void (await this.revive());
		if (record.state.problem?.kind === 'exited') return;
		const generation = this.generation;
		await this.preview.setProblem(record, generation, await diagnose(sandbox, templateNamed(record.state.template).port, secretsOf(record)));
	}

	/** When the alarm is next due, from the record alone (so that nothing can overwrite a deadline). */
	private async scheduleAlarm() {
		const record = this.record;
		if (!record) return this.ctx.storage.deleteAlarm();
		await this.ctx.storage.setAlarm(nextAlarm(timing(record), Date.now(), this.ttlOf(record)));
	}

	/** How long the sandbox may go unused: a pooled one waits for a visitor for longer. */
	private ttlOf(record: SandboxRecord): number {
		return unclaimed(record) ? this.lifetimes.poolTtlMs : this.lifetimes.idleTtlMs;
	}

	private beginBoot(mode: BootOptions['mode']) {
		const generation = ++this.generation;
		// Saved with the boot's first step: a boot resumed after this object restarts resumes a restart as one.
		this.record!.bootMode = mode;
		const run = this.boot(generation, mode).finally(() => {
			if (this.booting === run) this.booting = null;
		});
		this.booting = run;
		this.scheduleAlarm().catch((error) => console.error('[coordinator] setting the watchdog failed', error));
	}

	/** Runs a boot (boot-run.ts) and settles what came of it, unless a stop or a newer boot came first. */
	private async boot(generation: number, mode: BootOptions['mode']) {
		const record = this.record!;
		const { id, template } = record.state;
		const current = () => this.generation === generation && this.record === record;
		const sandbox = this.neighbours.sandbox(id);
		console.log(`[coordinator] booting ${id}`);
		const { outcome, containerUp } = await runBoot({
			sandbox,
			template: templateNamed(template),
			mode,
			origin: record.origin,
			apiToken: record.apiToken,
			secrets: secretsOf(record),
			current,
			step: (label) => this.keeper.step(label),
			freshApp: () => this.freshApp(record, sandbox, mode)
		});
		// Before its container was known to run, the SDK may still be starting one (its retries
		// outlive the boot's deadline, and nothing stops them): it is stopped when it does.
		if (outcome.kind !== 'ready' && !containerUp) record.sweepUntil = Date.now() + LATE_START_WINDOW_MS;
		if (!current()) {
			// Stopped mid-boot (a call made since may have woken a container): done for. A newer boot
			// (a wake-up, a restart) owns the sandbox otherwise.
			if (record.state.status === 'stopped') await this.endContainer(record);
		} else if (outcome.kind === 'ready') {
			if (outcome.previewUrl) record.previewHost = new URL(outcome.previewUrl).host;
			await this.keeper.finish({ status: 'ready', previewUrl: outcome.previewUrl, problem: null });
			if (unclaimed(record)) await this.neighbours.tellPool(id, template, 'ready');
		} else if (outcome.kind === 'app-failed-restart') {
			// The visitor reads why on the page, mends the app's files and restarts again.
			console.warn(`[coordinator] the app of ${id} failed to restart: ${outcome.problem.message}`);
			await this.keeper.finish({ status: 'ready', problem: outcome.problem });
		} else if (outcome.kind === 'failed') {
			await this.keeper.finish({ status: 'error', error: outcome.error });
			await this.endContainer(record);
			if (unclaimed(record)) await this.neighbours.tellPool(id, template, 'failed');
		}
		if (this.record !== record) return;
		record.lastActiveAt = Date.now();
		await this.keeper.save();
		await this.scheduleAlarm();
	}

	/** The sandbox is done for: its container goes, and its slot with it. */
	private async endContainer(record: SandboxRecord) {
		await this.neighbours.destroyContainer(record.state.id);
		await this.neighbours.releaseSlot(record.state.id);
	}
}
