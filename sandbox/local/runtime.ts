/**
 * The registry of local sandboxes, keyed by sandbox ID: starts a container on
 * first use (like a Durable Object waking its container), enforces the limit
 * on running sandboxes, puts idle ones to sleep, and keeps the preview tokens.
 *
 * Preview tokens outlive a sleep, as they do in the SDK's Durable Object
 * storage: a known token for a sleeping sandbox answers 410 (stale) rather
 * than 404, until `exposePort` is called on the restarted sandbox.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Container } from './container.ts';
import type { ContainerHost } from './container-host.ts';
import { RuntimeError } from './errors.ts';
import { previewUrl, type PreviewRoute } from './rules.ts';

export interface RuntimeSettings {
	/** Where containers come from (and the limit on how many run). */
	host: ContainerHost;
	/** Idle time before a sandbox sleeps when its client sets none (the SDK's default is 10 minutes). */
	defaultSleepAfterMs: number;
	log: (message: string) => void;
}

interface Forward {
	hostPort: number;
	ruleId: number;
}

interface SandboxRecord {
	id: string;
	sleepAfterMs: number;
	/** port → preview token; kept across sleeps. */
	tokens: Map<number, string>;
	/** port → host forward; only while the container runs. */
	forwards: Map<number, Forward>;
	container: Container | null;
	/** Stops the running container and frees its slot. */
	release: (() => Promise<void>) | null;
	starting: Promise<Container> | null;
	stopping: Promise<void> | null;
	lastActivity: number;
	/** Calls and preview connections under way; a sandbox never sleeps in the middle of one. */
	inflight: number;
	/** Set by destroy: a call still holding the record must not start a container nobody tracks. */
	destroyed: boolean;
}

export type PreviewTarget =
	| { kind: 'invalid' }
	| { kind: 'stale' }
	| { kind: 'ready'; hostPort: number; done: () => void };

/** Sleeping sandboxes remembered for their tokens; the oldest are forgotten past this. */
const MAX_SLEEPING_RECORDS = 1000;
const SWEEP_INTERVAL_MS = 1000;

export class LocalRuntime {
	private readonly settings: RuntimeSettings;
	private readonly records = new Map<string, SandboxRecord>();
	private readonly sweeper: NodeJS.Timeout;

	constructor(settings: RuntimeSettings) {
		this.settings = settings;
		this.sweeper = setInterval(() => void this.sleepIdleSandboxes().catch((e) => this.log(`sleeping idle sandboxes failed: ${e}`)), SWEEP_INTERVAL_MS);
		this.sweeper.unref();
	}

	list() {
		return [...this.records.values()].map((record) => ({
			id: record.id,
			state: record.container ? 'running' : record.starting ? 'starting' : 'sleeping',
			exposedPorts: [...record.forwards.keys()],
			sleepAfterSeconds: record.sleepAfterMs / 1000
		}));
	}

	/**
	 * Runs `work` against the sandbox's container, starting it if it is not
	 * running. The call counts as activity for its whole duration.
	 */
	async withContainer<T>(id: string, sleepAfterMs: number | undefined, work: (container: Container) => Promise<T>): Promise<T> {
		const record = this.record(id, sleepAfterMs);
		const done = this.begin(record);
		try {
			return await work(await this.ensureRunning(record));
		} finally {
			done();
		}
	}

	/** Runs `work` if the sandbox is running; otherwise returns `whenNotRunning` without starting it. */
	async ifRunning<T>(id: string, work: (container: Container) => Promise<T>, whenNotRunning: () => T): Promise<T> {
		const record = this.records.get(id);
		const container = record && (record.container ?? (await record.starting?.catch(() => null)));
		if (!record || !container) return whenNotRunning();
		const done = this.begin(record);
		try {
			return await work(container);
		} finally {
			done();
		}
	}

	async exposePort(id: string, port: number, hostname: string, token: string | undefined, sleepAfterMs?: number) {
		return this.withContainer(id, sleepAfterMs, async (container) => {
			const record = this.records.get(id)!;
			const chosen = token ?? record.tokens.get(port) ?? randomToken();
			for (const [otherPort, otherToken] of record.tokens) {
				if (otherPort !== port && otherToken === chosen) {
					throw new RuntimeError('TOKEN_IN_USE', `Token "${chosen}" is already used by port ${otherPort}`);
				}
			}
			const previous = record.forwards.get(port);
			if (previous && record.tokens.get(port) === chosen) {
				return { url: previewUrl({ port, sandboxId: id, token: chosen }, hostname), port };
			}
			if (previous) {
				await container.unforward(previous.ruleId);
				record.forwards.delete(port);
			}
			record.forwards.set(port, await container.forward(port));
			record.tokens.set(port, chosen);
			return { url: previewUrl({ port, sandboxId: id, token: chosen }, hostname), port };
		});
	}

	async unexposePort(id: string, port: number) {
		const record = this.records.get(id);
		if (!record) return;
		record.tokens.delete(port);
		const forward = record.forwards.get(port);
		record.forwards.delete(port);
		if (forward && record.container) await record.container.unforward(forward.ruleId);
	}

	getExposedPorts(id: string, hostname: string) {
		const record = this.records.get(id);
		if (!record?.container) return [];
		return [...record.forwards.keys()].map((port) => ({
			url: previewUrl({ port, sandboxId: id, token: record.tokens.get(port)! }, hostname),
			port,
			status: 'active' as const
		}));
	}

	/** Where a preview request should go, checked the way the SDK's proxy checks it: token first, then liveness. */
	resolvePreview(route: PreviewRoute): PreviewTarget {
		const record = this.records.get(route.sandboxId);
		const token = record?.tokens.get(route.port);
		if (!record || token === undefined || !sameToken(token, route.token)) return { kind: 'invalid' };
		const forward = record.forwards.get(route.port);
		if (!record.container || !forward) return { kind: 'stale' };
		return { kind: 'ready', hostPort: forward.hostPort, done: this.begin(record) };
	}

	/** Stops the sandbox and forgets it: processes, ports, tokens and files. */
	async destroy(id: string) {
		const record = this.records.get(id);
		if (!record) return;
		record.destroyed = true;
		this.records.delete(id);
		await record.starting?.catch(() => {});
		await record.stopping;
		await this.stopContainer(record);
		this.log(`sandbox ${id} destroyed`);
	}

	/** Destroys every sandbox (at shutdown). */
	async destroyAll() {
		clearInterval(this.sweeper);
		await Promise.all([...this.records.keys()].map((id) => this.destroy(id)));
	}

	private record(id: string, sleepAfterMs: number | undefined): SandboxRecord {
		let record = this.records.get(id);
		if (!record) {
			record = {
				id,
				sleepAfterMs: this.settings.defaultSleepAfterMs,
				tokens: new Map(),
				forwards: new Map(),
				container: null,
				release: null,
				starting: null,
				stopping: null,
				lastActivity: Date.now(),
				inflight: 0,
				destroyed: false
			};
			this.records.set(id, record);
			this.forgetOldSleepers();
		}
		if (sleepAfterMs !== undefined) record.sleepAfterMs = sleepAfterMs;
		return record;
	}

	private begin(record: SandboxRecord): () => void {
		record.inflight++;
		record.lastActivity = Date.now();
		let ended = false;
		return () => {
			if (ended) return;
			ended = true;
			record.inflight--;
			record.lastActivity = Date.now();
		};
	}

	private async ensureRunning(record: SandboxRecord): Promise<Container> {
		await record.stopping;
		if (record.destroyed) throw new RuntimeError('SANDBOX_STOPPED', `Sandbox ${record.id} was destroyed during the call`);
		if (record.container) return record.container;
		if (record.starting) return record.starting;
		const { host } = this.settings;
		// The container is recorded before anyone awaiting `starting` resumes,
		// so a concurrent destroy always finds it to stop.
		record.starting = host
			.launch(record.id, { kind: 'agent' }, () => void this.onContainerExit(record).catch((e) => this.log(`cleaning up ${record.id} failed: ${e}`)))
			.then(({ container, release }) => {
				record.release = release;
				return (record.container = container);
			});
		try {
			const container = await record.starting;
			this.log(`sandbox ${record.id} started (${host.running}/${host.max} running)`);
			return container;
		} finally {
			record.starting = null;
		}
	}

	private async onContainerExit(record: SandboxRecord) {
		this.log(`sandbox ${record.id} exited unexpectedly`);
		await this.putToSleep(record);
	}

	private async sleepIdleSandboxes() {
		const now = Date.now();
		for (const record of this.records.values()) {
			const idle = record.container && record.inflight === 0 && now - record.lastActivity >= record.sleepAfterMs;
			if (idle && !record.stopping) {
				this.log(`sandbox ${record.id} idle for ${record.sleepAfterMs / 1000} s: sleeping`);
				await this.putToSleep(record);
			}
		}
	}

	/** Stops the container but keeps the record (and its tokens), like a container going to sleep. */
	private async putToSleep(record: SandboxRecord) {
		record.stopping = this.stopContainer(record);
		await record.stopping;
		record.stopping = null;
	}

	private async stopContainer(record: SandboxRecord) {
		const release = record.release;
		record.container = null;
		record.release = null;
		record.forwards.clear();
		await release?.();
	}

	private forgetOldSleepers() {
		const sleeping = [...this.records.values()].filter((r) => !r.container && !r.starting && r.inflight === 0);
		for (const record of sleeping.slice(0, Math.max(0, sleeping.length - MAX_SLEEPING_RECORDS))) {
			this.records.delete(record.id);
		}
	}

	private log(message: string) {
		this.settings.log(message);
	}
}

/** A 16-character token in the SDK's alphabet. */
function randomToken(): string {
	return randomBytes(12).toString('base64url').toLowerCase().replaceAll('-', '_');
}

function sameToken(a: string, b: string): boolean {
	return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
