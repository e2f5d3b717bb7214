/**
 * A template's warm pool: one Durable Object per template (named by its ID, which every call that
 * may come first names too) that keeps SANDBOX_POOL_SIZE of its sandboxes started ahead of visitors
 * (pool-settings.ts) — container up, app copied, its server answering — so that a start takes one
 * (`claim`) instead of booting.
 *
 * - Members are ordinary sandboxes, each with its own coordinator, booted with nobody's name on it
 *   (`prewarm`); the coordinator tells the pool when one is ready, and when one stops unclaimed (its
 *   pool TTL, a reclaim, a failed boot). A claim hands out a ready member once: it leaves the pool
 *   before the answer, and the coordinator records its visitor as its owner.
 * - It refills in the background (its alarm), two boots at a time, never past its size, and only
 *   into free room: a member's slot is claimed from Capacity like any sandbox's, but a pool's claim
 *   never makes room, while a visitor's reclaims pool members first (capacity.ts). A full machine
 *   runs visitors.
 * - A boot that fails makes it wait before trying again, longer each time (a broken template would
 *   otherwise boot forever); and every few minutes it asks its members' coordinators whether they
 *   still run, forgetting those that do not (a message lost, a record forgotten).
 * - Made smaller (a deploy with a lower size, or 0), it stops the members beyond its size at its next
 *   alarm: at once after a page view, within minutes otherwise.
 *
 * A page view asks the pools to fill (`fill`): a deployment warms up once someone looks at it.
 */
import { DurableObject } from 'cloudflare:workers';
import { idSecret, newSandboxId } from '../sandbox-ids';
import { templateOf } from '../templates/catalog';
import type { CoordinatorNamespace, PoolApi, PoolMember, PoolStatus } from './contract';
import { poolSizeOf, type PoolSettingsEnv } from './pool-settings';

export interface PoolEnv extends PoolSettingsEnv {
	Coordinator: CoordinatorNamespace;
	/** Signs the sandbox IDs it makes (sandbox-ids.ts). */
	SESSION_SECRET?: string;
}


/**
 * How many of its sandboxes a pool boots at once: a burst of claims is refilled a few at a time, so
 * that the refill does not take the CPU from the visitors who just arrived.
 */
const BOOTS_AT_ONCE = 2;
/** How often the members are looked at (and the pool refilled if one went missing). */
const HEAL_INTERVAL_MS = 5 * 60_000;
/** The first wait after a failed boot; it doubles with every failure in a row, up to the longest. */
const FIRST_BACKOFF_MS = 10_000;
const LONGEST_BACKOFF_MS = 10 * 60_000;

export class SandboxPool extends DurableObject<PoolEnv> implements PoolApi {
	/** Booting or ready, in the order they were started: the oldest ready one is claimed first. */
	private roster: PoolMember[] = [];
	/** Failed boots in a row. */
	private failures = 0;
	/**
	 * Its template, as its callers name it (kept for the alarm): an object reached through wrangler's
	 * platform proxy does not know the name it was addressed by.
	 */
	private template: string | null = null;

	constructor(ctx: ConstructorParameters<typeof DurableObject<PoolEnv>>[0], env: PoolEnv) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.roster = (await ctx.storage.get<PoolMember[]>('members')) ?? [];
			this.failures = (await ctx.storage.get<number>('failures')) ?? 0;
			this.template = (await ctx.storage.get<string>('template')) ?? null;
		});
	}

	private get size(): number {
		return this.template === null ? 0 : poolSizeOf(this.env, this.template);
	}

	/** The pool's template, from the first call that names it; no caller may name another. */
	private async serve(template: string) {
		if (this.template === template) return;
		const name = this.ctx.id.name;
		if (!templateOf(template) || this.template !== null || (name !== undefined && name !== template)) {
			throw new Error(`the pool of ${this.template ?? name ?? 'a template'} asked for ${template}`);
		}
		this.template = template;
		await this.ctx.storage.put('template', template);
	}

	async claim(template: string): Promise<string | null> {
		await this.serve(template);
		const member = this.roster.find((candidate) => candidate.ready);
		if (!member) return null;
		this.roster = this.roster.filter((other) => other !== member);
		await this.save();
		await this.refillIn(0);
		return member.sandboxId;
	}

	async giveBack(sandboxId: string): Promise<void> {
		if (this.roster.some((member) => member.sandboxId === sandboxId)) return;
		this.roster.unshift({ sandboxId, ready: true });
		await this.save();
	}

	async fill(template: string): Promise<PoolStatus> {
		await this.serve(template);
		if (this.roster.length !== this.size) await this.refillIn(0);
		const ready = this.roster.filter((member) => member.ready).length;
		return { size: this.size, ready, starting: this.roster.length - ready };
	}

	async memberReady(sandboxId: string): Promise<void> {
		const member = this.roster.find((candidate) => candidate.sandboxId === sandboxId);
		if (!member) return;
		member.ready = true;
		this.failures = 0;
		await this.save();
		// Room for the next boot, if the pool is short.
		if (this.roster.length < this.size) await this.refillIn(0);
	}

	async memberGone(sandboxId: string, failed: boolean): Promise<void> {
		const members = this.roster.filter((member) => member.sandboxId !== sandboxId);
		if (members.length === this.roster.length) return;
		this.roster = members;
		if (failed) this.failures++;
		await this.save();
		await this.refillIn(failed ? this.backoffMs() : 0);
	}

	async members(): Promise<PoolMember[]> {
		return this.roster;
	}

	/** Stops what is beyond the size, refills up to it as room allows; then looks again at the next heal. */
	async alarm() {
		await this.forgetStopped();
		await this.shrink();
		const template = this.template;
		const booting = () => this.roster.filter((member) => !member.ready).length;
		while (template !== null && this.roster.length < this.size && booting() < BOOTS_AT_ONCE) {
			const member = { sandboxId: await newSandboxId(idSecret(this.env), template), ready: false };
			// A member before its boot begins: its coordinator may say it is ready before this call returns.
			this.roster.push(member);
			await this.save();
			const reply = await this.coordinator(member.sandboxId)
				.prewarm({ id: member.sandboxId, template })
				.catch((error: Error) => (console.error(`[pool] starting ${member.sandboxId}: ${error.message}`), { ok: false as const, retryAfterSeconds: 30 }));
			if (!reply.ok) {
				this.roster = this.roster.filter((other) => other !== member);
				await this.save();
				return this.refillIn(reply.retryAfterSeconds * 1000);
			}
		}
		// (Short of its size, the next boot begins as soon as one of these is ready: memberReady.)
		if (this.roster.length > 0) await this.refillIn(HEAL_INTERVAL_MS);
	}

	/** Members whose coordinators no longer run them (asked at each heal): forgotten. */
	private async forgetStopped() {
		const running = await Promise.all(this.roster.map((member) => this.coordinator(member.sandboxId).isRunning().catch(() => true)));
		const members = this.roster.filter((_, i) => running[i]);
		if (members.length === this.roster.length) return;
		this.roster = members;
		await this.save();
	}

	/** Members beyond the size, since it was made smaller: stopped, those still booting first, then the newest. */
	private async shrink() {
		const surplus = this.roster.length - this.size;
		if (surplus <= 0) return;
		const newestFirst = [...this.roster].reverse();
		const extras = [...newestFirst.filter((member) => !member.ready), ...newestFirst.filter((member) => member.ready)].slice(0, surplus);
		this.roster = this.roster.filter((member) => !extras.includes(member));
		await this.save();
		console.log(`[pool] its size is ${this.size}: stopping ${extras.map((member) => member.sandboxId).join(', ')}`);
		await Promise.all(
			extras.map((member) =>
				this.coordinator(member.sandboxId)
					.reclaim('Its pool was made smaller.', undefined, true)
					.catch((error: Error) => console.error(`[pool] stopping ${member.sandboxId}: ${error.message}`))
			)
		);
	}

	/** Sets the alarm `ms` from now, unless it is due sooner already. */
	private async refillIn(ms: number) {
		if (this.size === 0 && this.roster.length === 0) return;
		const at = Date.now() + ms;
		const current = await this.ctx.storage.getAlarm();
		if (current === null || current > at) await this.ctx.storage.setAlarm(at);
	}

	private backoffMs(): number {
		return Math.min(LONGEST_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, this.failures - 1));
	}

	private save() {
		return this.ctx.storage.put({ members: this.roster, failures: this.failures });
	}

	private coordinator(sandboxId: string) {
		return this.env.Coordinator.get(this.env.Coordinator.idFromName(sandboxId));
	}
}
