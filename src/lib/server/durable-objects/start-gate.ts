/**
 * The gate a start passes: one Durable Object per visitor (`visitor:{id}`) and one per client
 * address (`address:{ip}`). It counts recent starts, so that nobody can start sandboxes faster
 * than a person would (each is a container, and capacity is shared), and it remembers the
 * visitor's live sandbox, so that starting another one replaces it: capacity counts visitors,
 * not clicks.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Admission, StartGateApi, StartLimit } from './contract';

export class StartGate extends DurableObject implements StartGateApi {
	/** Start times (epoch ms) within the longest window asked about, oldest first. */
	private starts: number[] = [];
	private live: string | null = null;

	constructor(ctx: ConstructorParameters<typeof DurableObject>[0], env: unknown) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.starts = (await ctx.storage.get<number[]>('starts')) ?? [];
			this.live = (await ctx.storage.get<string>('live')) ?? null;
		});
	}

	/** Counts a start if it is within `limit`; otherwise says when the oldest counted start expires. */
	async admit({ starts, perMs }: StartLimit): Promise<Admission> {
		const now = Date.now();
		this.starts = this.starts.filter((at) => at > now - perMs);
		if (this.starts.length >= starts) {
			return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((this.starts[0] + perMs - now) / 1000)) };
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
}
