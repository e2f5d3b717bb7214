/**
 * The gate a start passes: one Durable Object per visitor (`visitor:{id}`) and one per client
 * network (`address:{IPv4 address, or IPv6 /64}`). The visitor's gate makes the whole start
 * (`start`), asking the network's gate, the visitor's saved edits and the coordinators as it goes.
 * It counts recent starts, so that nobody can start sandboxes faster than a person would (each is
 * a container, and capacity is shared); it remembers the visitor's live sandbox, so that starting
 * another one replaces it: capacity counts visitors, not clicks; and a network's gate caps the
 * sandboxes running from that network at once, so that a client that drops its cookie before every
 * start (a new visitor each time) cannot take every slot. A start takes a ready sandbox from the
 * template's warm pool when it has one (pool.ts), and boots a new one otherwise.
 */
import { DurableObject } from 'cloudflare:workers';
import {
	networkGateName,
	REPLACED_REASON,
	savedEditsName,
	visitorGateName,
	type Admission,
	type CoordinatorNamespace,
	type GatedStart,
	type GatedStartReply,
	type LiveLimit,
	type Namespace,
	type PoolApi,
	type SavedEditsApi,
	type StartGateApi,
	type StartLimit,
	type StartReply
} from './contract';
import { idSecret, newSandboxId } from '../sandbox-ids';
import { poolSizeOf, type PoolSettingsEnv } from './pool-settings';

interface StartGateEnv extends PoolSettingsEnv {
	/** Signs the sandbox IDs it makes (sandbox-ids.ts). */
	SESSION_SECRET?: string;
	Coordinator: CoordinatorNamespace;
	StartGate: Namespace<StartGateApi>;
	SavedEdits?: Namespace<SavedEditsApi>;
	Pool?: Namespace<PoolApi>;
}

/** A sandbox started from this gate's address, and by whom. */
interface LiveEntry {
	sandboxId: string;
	visitor: string;
}

/** When the live cap refuses: a running sandbox frees its slot when it is stopped or idles out. */
const LIVE_RETRY_AFTER_SECONDS = 60;
/** The state page's reason when a start failed midway. */
const FAILED_START_REASON = 'Its start failed midway.';
/** The start limits' window. */
const MINUTE_MS = 60_000;

export class StartGate extends DurableObject<StartGateEnv> implements StartGateApi {
	/** Start times (epoch ms) within the longest window asked about, oldest first. */
	private starts: number[] = [];
	private live: string | null = null;
	/** An address gate's sandboxes that were running when last looked at, one per visitor. */
	private running: LiveEntry[] = [];
	/** The visitor's newest start that got past the limits (memory only: a tie-break between starts in flight). */
	private newest: string | null = null;

	constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: StartGateEnv) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.starts = (await ctx.storage.get<number[]>('starts')) ?? [];
			this.live = (await ctx.storage.get<string>('live')) ?? null;
			this.running = (await ctx.storage.get<LiveEntry[]>('running')) ?? [];
		});
	}

	async start({ network, limits, clean, ...request }: GatedStart): Promise<GatedStartReply> {
		const { template, visitor } = request;
		if (this.ctx.id.name !== undefined && this.ctx.id.name !== visitorGateName(visitor)) {
			throw new Error(`a start for ${visitor} at the gate ${this.ctx.id.name}`);
		}
		const byVisitor = await this.admit({ starts: limits.perVisitor, perMs: MINUTE_MS });
		if (!byVisitor.ok) return byVisitor;
		const pool = this.poolFor(template);
		const pooled = await pool?.claim(template);
		const id = pooled ?? (await newSandboxId(idSecret(this.env), template));
		const networkGate = this.env.StartGate.get(this.env.StartGate.idFromName(networkGateName(network)));
		const byNetwork = await networkGate.admit({ starts: limits.perNetwork, perMs: MINUTE_MS }, { max: limits.liveAtNetwork, visitor, sandboxId: id });
		if (!byNetwork.ok) {
			if (pooled) await pool!.giveBack(pooled);
			return byNetwork;
		}
		if (clean) await this.savedEdits(visitor)?.discard(template);
		// The visitor's newest start wins, whichever finishes first: after a double click, the page
		// shows the second one.
		this.newest = id;
		let started: StartReply;
		try {
			started = await this.coordinator(id).start({ ...request, id });
		} catch (error) {
			// Every answer is a value (contract.ts): what began of this start is stopped, and the visitor told.
			console.error(`[start-gate] the start of ${id} failed: ${(error as Error).message}`);
			await this.stopQuietly(id, FAILED_START_REASON);
			return { ok: false, status: 503, message: 'The sandbox could not be started. Please try again.', retryAfterSeconds: 5 };
		}
		if (!started.ok) return started;
		if (this.newest !== id) {
			await this.stopQuietly(id, REPLACED_REASON);
			return { ok: true, id };
		}
		// After the start: of two racing starts, each stops a different predecessor, and one is left.
		const previous = await this.replaceLive(id);
		if (previous) await this.stopQuietly(previous, REPLACED_REASON);
		return { ok: true, id };
	}

	/**
	 * The template's warm pool, if it has one. (A visitor's saved edits go over a claimed sandbox's
	 * files as over a fresh one's: the coordinator's claim restores them, and starts the app again.)
	 */
	private poolFor(template: string): PoolApi | null {
		const pools = this.env.Pool;
		return pools && poolSizeOf(this.env, template) > 0 ? pools.get(pools.idFromName(template)) : null;
	}

	private savedEdits(visitor: string): SavedEditsApi | null {
		const namespace = this.env.SavedEdits;
		return namespace ? namespace.get(namespace.idFromName(savedEditsName(visitor))) : null;
	}

	/** Stops a sandbox as part of a start that has happened: a failure is logged, not the start's. */
	private async stopQuietly(sandboxId: string, reason: string) {
		await this.coordinator(sandboxId)
			.stop(reason)
			.catch((error: Error) => console.error(`[start-gate] stopping ${sandboxId}: ${error.message}`));
	}

	/**
	 * Counts a start if it is within `limit` (and, given `live`, if fewer than `live.max` other
	 * visitors' sandboxes from here still run); otherwise says why, and when to retry.
	 */
	async admit({ starts, perMs }: StartLimit, live?: LiveLimit): Promise<Admission> {
		const now = Date.now();
		this.starts = this.starts.filter((at) => at > now - perMs);
		if (this.starts.length >= starts) {
			return { ok: false, reason: 'rate', retryAfterSeconds: Math.max(1, Math.ceil((this.starts[0] + perMs - now) / 1000)) };
		}
		if (live) {
			// The visitor's own sandbox does not count: the new one replaces it.
			let others = this.running.filter((entry) => entry.visitor !== live.visitor);
			// Only at the cap are the coordinators asked which still run (a stop or the idle TTL frees a slot).
			if (others.length >= live.max) others = await this.stillRunning(others);
			if (others.length >= live.max) {
				this.running = others;
				await this.ctx.storage.put('running', this.running);
				return { ok: false, reason: 'live', retryAfterSeconds: LIVE_RETRY_AFTER_SECONDS };
			}
			this.running = [...others, { sandboxId: live.sandboxId, visitor: live.visitor }];
			await this.ctx.storage.put('running', this.running);
		}
		this.starts.push(now);
		// At most `starts` times are kept: what a gate stores stays small without any clean-up.
		await this.ctx.storage.put('starts', this.starts);
		return { ok: true };
	}

	/** Makes `sandboxId` the live one, and returns the one it replaces (to be stopped). */
	async replaceLive(sandboxId: string): Promise<string | null> {
		const previous = this.live;
		this.live = sandboxId;
		await this.ctx.storage.put('live', sandboxId);
		return previous === sandboxId ? null : previous;
	}

	private async stillRunning(entries: LiveEntry[]): Promise<LiveEntry[]> {
		const running = await Promise.all(entries.map((entry) => this.coordinator(entry.sandboxId).isRunning().catch(() => true)));
		return entries.filter((_, i) => running[i]);
	}

	private coordinator(sandboxId: string) {
		return this.env.Coordinator.get(this.env.Coordinator.idFromName(sandboxId));
	}
}
