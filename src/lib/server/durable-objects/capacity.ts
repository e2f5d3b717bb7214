/**
 * How many sandboxes this deployment may run at once, and which ones do: one Durable Object for the
 * whole deployment (`idFromName('deployment')`), which every coordinator asks for a slot before it
 * boots and tells when its sandbox stops.
 *
 * - It answers at once. A platform at its limit (Cloudflare's `max_instances`, the local engine's
 *   `SANDBOX_ENGINE_MAX`) only says so after the SDK's retries; this object knows first.
 * - It reclaims before it refuses: at the limit, a warm pool's unclaimed sandbox (pool.ts), else the
 *   visitor's own other sandbox (which the new one replaces anyway), else the sandbox unused for
 *   longest, if that is past the grace (SANDBOX_RECLAIM_AFTER_SECONDS), is stopped to make room. A
 *   sandbox in use (a visible tab's heartbeat, preview requests, the editor) within the grace is
 *   never taken. A pool's own claim only takes free room.
 * - It heals: at the limit it asks each holder's coordinator whether it still runs, and frees the
 *   slots of those that do not (a coordinator that lost its stop, a record forgotten).
 *
 * Claims are taken one at a time; a release needs no turn (it only frees).
 */
import { DurableObject } from 'cloudflare:workers';
import * as v from 'valibot';
import { reclaimAfterMs } from './lifetimes';
import { REPLACED_REASON, type CapacityApi, type Claim, type CoordinatorNamespace } from './contract';

export interface CapacityEnv {
	Coordinator: CoordinatorNamespace;
	/**
	 * Sandboxes running at once: wrangler.jsonc's `max_instances` on Cloudflare; the local engine's
	 * capacity under `npm run dev` and `npm run preview` (which set it). Unset: no limit is known here,
	 * and a full platform is met at the container's start deadline (boot.ts).
	 */
	SANDBOX_MAX_INSTANCES?: string;
	/** How long a sandbox must go unused before it may be stopped to make room (lifetimes.ts). */
	SANDBOX_RECLAIM_AFTER_SECONDS?: string;
}

const MaxInstances = v.optional(v.pipe(v.string(), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(100_000)));

/** When a pool may ask again for room it was refused. */
const POOL_RETRY_AFTER_SECONDS = 30;

/** The name of the one Capacity object. */
export const CAPACITY_NAME = 'deployment';

interface Slot {
	sandboxId: string;
	/** Who started it; null for a warm pool's sandbox that nobody has claimed yet. */
	visitor: string | null;
}

export class Capacity extends DurableObject<CapacityEnv> implements CapacityApi {
	private slots: Slot[] = [];
	/** The claim under way: the next one waits for it. */
	private turn: Promise<unknown> = Promise.resolve();
	private readonly max: number | undefined;
	private readonly graceMs: number;

	constructor(ctx: ConstructorParameters<typeof DurableObject<CapacityEnv>>[0], env: CapacityEnv) {
		super(ctx, env);
		this.max = v.parse(MaxInstances, env.SANDBOX_MAX_INSTANCES);
		this.graceMs = reclaimAfterMs(env);
		void ctx.blockConcurrencyWhile(async () => {
			this.slots = (await ctx.storage.get<Slot[]>('slots')) ?? [];
		});
	}

	/** A slot for `sandboxId` (started by `visitor`, or for the pool: null), or how long to wait before asking again. */
	claim(sandboxId: string, visitor: string | null): Promise<Claim> {
		const claim = this.turn.then(() => this.claimNow(sandboxId, visitor));
		this.turn = claim.catch(() => {});
		return claim;
	}

	async release(sandboxId: string): Promise<void> {
		const slots = this.slots.filter((slot) => slot.sandboxId !== sandboxId);
		if (slots.length === this.slots.length) return;
		this.slots = slots;
		await this.save();
	}

	private async claimNow(sandboxId: string, visitor: string | null): Promise<Claim> {
		// No limit known: nothing to count against (and nothing to heal later).
		if (this.max === undefined) return { ok: true };
		const held = this.slots.find((slot) => slot.sandboxId === sandboxId);
		if (held) {
			// A pooled sandbox claimed by a visitor: theirs from now on.
			if (visitor !== null && held.visitor !== visitor) {
				held.visitor = visitor;
				await this.save();
			}
			return { ok: true };
		}
		if (this.slots.length < this.max) return this.take(sandboxId, visitor);

		const holders = await Promise.all(
			this.slots.map(async (slot) => ({ slot, usage: await this.coordinator(slot.sandboxId).usage().catch(() => null) }))
		);
		// Not running any more: a slot nobody gave back (a coordinator that cannot be reached keeps its own).
		const gone = holders.filter(({ usage }) => usage && !usage.running).map(({ slot }) => slot.sandboxId);
		this.slots = this.slots.filter((slot) => !gone.includes(slot.sandboxId));
		if (this.slots.length < this.max) return this.take(sandboxId, visitor);
		// The pool fills free room only: visitors come first.
		if (visitor === null) return { ok: false, retryAfterSeconds: POOL_RETRY_AFTER_SECONDS };

		// Unclaimed pool sandboxes first (nobody uses them), then the visitor's own (replaced anyway),
		// then the longest unused.
		const rank = (slot: Slot) => (slot.visitor === null ? 2 : slot.visitor === visitor ? 1 : 0);
		const candidates = holders
			.filter(({ usage, slot }) => usage?.running && (rank(slot) > 0 || usage.idleMs >= this.graceMs))
			.sort((a, b) => rank(b.slot) - rank(a.slot) || b.usage!.idleMs - a.usage!.idleMs);
		for (const { slot, usage } of candidates) {
			const reason = [
				`It was stopped to make room for another visitor, after ${Math.round(usage!.idleMs / 1000)} seconds without use.`,
				REPLACED_REASON,
				'It left the warm pool to make room for a visitor.'
			][rank(slot)];
			// The coordinator looks again: its owner may have come back since (or claimed it from the pool).
			if (!(await this.coordinator(slot.sandboxId).reclaim(reason, rank(slot) === 0 ? this.graceMs : undefined, slot.visitor === null))) continue;
			console.log(`[capacity] reclaimed ${slot.sandboxId} for ${sandboxId}`);
			this.slots = this.slots.filter((other) => other.sandboxId !== slot.sandboxId);
			return this.take(sandboxId, visitor);
		}
		await this.save();
		// The soonest an unused sandbox can become a candidate.
		const soonestMs = Math.min(...holders.map(({ usage }) => (usage ? Math.max(0, this.graceMs - usage.idleMs) : this.graceMs)));
		return { ok: false, retryAfterSeconds: Math.max(5, Math.ceil(soonestMs / 1000)) };
	}

	private async take(sandboxId: string, visitor: string | null): Promise<Claim> {
		this.slots.push({ sandboxId, visitor });
		await this.save();
		return { ok: true };
	}

	private save() {
		return this.ctx.storage.put('slots', this.slots);
	}

	private coordinator(sandboxId: string) {
		return this.env.Coordinator.get(this.env.Coordinator.idFromName(sandboxId));
	}
}
