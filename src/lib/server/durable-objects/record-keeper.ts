/**
 * A coordinator's record of its sandbox (sandbox-record.ts), kept in the object's storage, with
 * every change of its state published to those who follow it: status sockets and waiting status
 * reads (status-feed.ts). The coordinator (coordinator.ts) decides the changes; this keeps them.
 */
import type { DurableObjectState } from 'cloudflare:workers';
import { messageFor, type SandboxSnapshot } from '../../sandbox-state';
import { beginStep, endBoot, type SandboxRecord } from './sandbox-record';
import { StatusFeed } from './status-feed';

/** Use is written down at most this often (a preview's every request counts). */
const USE_WRITE_INTERVAL_MS = 2_000;

/** The longest a status read waits for a change. */
const MAX_WAIT_MS = 10_000;
/** The longest a waiting status read goes on gathering changes after the first. */
const MAX_GATHER_MS = 2_000;

export class RecordKeeper {
	/** The sandbox's record: null before a start, and once forgotten. */
	record: SandboxRecord | null = null;
	readonly feed: StatusFeed;
	private readonly storage: DurableObjectState['storage'];
	private lastWrite = 0;

	constructor(ctx: DurableObjectState) {
		this.storage = ctx.storage;
		this.feed = new StatusFeed(ctx);
	}

	async load(): Promise<SandboxRecord | null> {
		this.record = (await this.storage.get<SandboxRecord>('record')) ?? null;
		return this.record;
	}

	/** A new record replaces the old one (a start or a pool's boot of a stopped or unknown sandbox). */
	async replace(record: SandboxRecord) {
		this.record = record;
		await this.save();
	}

	async forget() {
		this.record = null;
		await this.storage.deleteAll();
	}

	async save() {
		if (!this.record) return;
		this.lastWrite = Date.now();
		await this.storage.put('record', this.record);
	}

	/** Saves a change of state and tells every socket and waiting status read. */
	async changedState() {
		this.record!.version++;
		this.feed.publish(this.message());
		await this.save();
	}

	/** The sandbox was used: its idle TTL starts again (written down now and then, not at every use). */
	async used() {
		if (!this.record) return;
		this.record.lastActiveAt = Date.now();
		if (this.record.lastActiveAt - this.lastWrite > USE_WRITE_INTERVAL_MS) await this.save();
	}

	/** A boot's next step begins (saved and told without waiting). */
	step(label: string) {
		beginStep(this.record!.state, label, Date.now());
		this.changedState().catch((error) => console.error('[coordinator] saving a step failed', error));
	}

	async finish(outcome: Partial<SandboxSnapshot>) {
		endBoot(this.record!.state, outcome, Date.now());
		await this.changedState();
	}

	/**
	 * Waits while the state's version is still `after`, for up to `waitMs`; then, during a boot, goes
	 * on gathering the changes that follow for up to `gatherMs`, so that one answer carries them.
	 */
	async changeAfter(after: number | undefined, waitMs: number, gatherMs: number) {
		if (!this.record || after !== this.record.version || waitMs <= 0) return;
		await this.feed.nextChange(Math.min(waitMs, MAX_WAIT_MS));
		const until = Date.now() + Math.min(gatherMs, MAX_GATHER_MS);
		while (this.record?.state.status === 'initializing' && Date.now() < until) await this.feed.nextChange(until - Date.now());
	}

	/** The state as a status socket's message. */
	message(): string {
		return JSON.stringify(messageFor(this.record!.state, this.record!.version));
	}
}
