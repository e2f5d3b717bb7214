/**
 * What a sandbox's coordinator keeps (coordinator.ts): the state its visitor's page shows, and what
 * the coordinator needs to run it. The changes of state that need no I/O are here, as functions.
 */
import type { SandboxSnapshot, Step } from '../../sandbox-state';
import type { Timed } from './alarm-schedule';
import type { BootOptions } from './boot';
import type { Tickets } from './preview-tickets';

export interface SandboxRecord {
	state: SandboxSnapshot;
	/** Bumped on every change of `state`. */
	version: number;
	/** The app's origin its preview hangs off; null until a visitor claims a pooled sandbox. */
	origin: string | null;
	/**
	 * Whose it is (only they see it: `ownedBy`), and since when: their edits are saved for them when
	 * it stops (saved-edits.ts). Nobody's while a pooled sandbox waits for a visitor.
	 */
	visitor?: string;
	startedAt?: number;
	/** Started ahead of visitors for its template's warm pool (pool.ts); claimed once it has a visitor. */
	pooled?: boolean;
	/** Whether the app's files differ from the template's: edited in the page or a terminal, or restored. */
	edited?: boolean;
	lastActiveAt: number;
	/** After a boot that ended before its container was known to run: until when the SDK may still start one, to be stopped. */
	sweepUntil?: number;
	/** When a stopped sandbox's record is forgotten. */
	forgetAt?: number;
	/** How the current (or last) boot began: a restart resumed after this object restarts is a restart still. */
	bootMode?: BootOptions['mode'];
	/** The preview's host (`{port}-{id}-{token}.{app host}`) once issued: it outlives wake-ups, as the token does. */
	previewHost?: string;
	/** Unredeemed one-time tickets into the preview (preview-tickets.ts). */
	tickets?: Tickets;
	/**
	 * The bearer token of a template with an API (its manifest's `api`): minted here, given to the
	 * app's process, sent by the console. It leaves the coordinator for nothing else (the app's
	 * process has it in its environment, which its visitor's terminal can read: the visitor owns the app).
	 */
	apiToken?: string;
}

/** Who a sandbox is for: a visitor at the app's origin. */
export interface Owner {
	visitor: string;
	origin: string;
}

interface NewRecord {
	id: string;
	template: string;
	/** Null: started for the warm pool, nobody's until claimed. */
	owner: Owner | null;
	/** Whether the template has an API, whose token is minted now. */
	api: boolean;
	now: number;
}

/** A sandbox about to boot: private, with no steps yet. */
export function newRecord({ id, template, owner, api, now }: NewRecord): SandboxRecord {
	const state: SandboxSnapshot = { id, template, status: 'initializing', steps: [], previewUrl: null, previewAccess: 'private', error: null, problem: null };
	const record: SandboxRecord = { state, version: 1, origin: owner?.origin ?? null, startedAt: now, lastActiveAt: now, ...(api && { apiToken: randomToken() }) };
	return owner ? { ...record, visitor: owner.visitor } : { ...record, pooled: true };
}

/** A pooled sandbox that nobody has claimed yet. */
export function unclaimed(record: SandboxRecord): boolean {
	return record.pooled === true && record.visitor === undefined;
}

/**
 * A ready pooled sandbox becomes `owner`'s, as if started now: its steps so far show as done at
 * once (they were, for its visitor), and it is initializing until its preview is made.
 */
export function claimRecord(record: SandboxRecord, owner: Owner, now: number) {
	Object.assign(record, { visitor: owner.visitor, origin: owner.origin, startedAt: now, lastActiveAt: now });
	const steps = record.state.steps.map((step) => ({ ...step, state: 'done' as const, startedAt: now, durationMs: 0 }));
	Object.assign(record.state, { status: 'initializing', steps, previewUrl: null, error: null, problem: null });
}

/** A boot's next step begins: the one under way is done. */
export function beginStep(state: SandboxSnapshot, label: string, now: number) {
	closeActiveStep(state, 'done', now);
	state.steps.push({ label, state: 'active', startedAt: now, durationMs: null });
}

/** A boot ended (ready, failed, or ready with an app that failed its restart): its last step closes with it. */
export function endBoot(state: SandboxSnapshot, outcome: Partial<SandboxSnapshot>, now: number) {
	closeActiveStep(state, outcome.status === 'error' || outcome.problem ? 'failed' : 'done', now);
	Object.assign(state, outcome);
}

/** Stopped, saying why: nothing left to show but the reason. */
export function stoppedState(state: SandboxSnapshot, reason: string) {
	Object.assign(state, { status: 'stopped', steps: [], previewUrl: null, error: { message: reason, retryable: true }, problem: null });
}

function closeActiveStep(state: SandboxSnapshot, outcome: Step['state'], now: number) {
	const active = state.steps.at(-1);
	if (active?.state === 'active') {
		active.state = outcome;
		active.durationMs = now - active.startedAt;
	}
}

/** What of a record the alarm's schedule depends on (alarm-schedule.ts). */
export function timing({ state, lastActiveAt, sweepUntil, forgetAt }: SandboxRecord): Timed {
	return { status: state.status, lastActiveAt, sweepUntil, forgetAt };
}

/** What the app was given that no line of its output may show. */
export function secretsOf(record: SandboxRecord): string[] {
	return record.apiToken ? [record.apiToken] : [];
}

/** 256 random bits, hex. */
function randomToken(): string {
	return Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
