/**
 * How long a sandbox lives unused, read from the worker's variables:
 *
 *   SANDBOX_TTL_SECONDS        idle time before a visitor's sandbox is stopped (default 300)
 *   SANDBOX_POOL_TTL_SECONDS   how long a pooled one waits for a visitor (pool-settings.ts)
 *   SANDBOX_RECLAIM_AFTER_SECONDS  idle time before a full machine may stop it for another (capacity.ts; default 45)
 *
 * and what follows from them for its coordinator (coordinator.ts) and the browser.
 */
import * as v from 'valibot';
import { poolTtlMs, type PoolSettingsEnv } from './pool-settings';

export interface LifetimesEnv extends PoolSettingsEnv {
	SANDBOX_TTL_SECONDS?: string;
	SANDBOX_RECLAIM_AFTER_SECONDS?: string;
}

export interface Lifetimes {
	/** How long a visitor's sandbox may go unused. */
	idleTtlMs: number;
	/** How long a pooled sandbox waits for a visitor. */
	poolTtlMs: number;
	/** How often a visible tab says it is still open: often enough that neither the TTL nor a reclaim takes its sandbox. */
	heartbeatMs: number;
	/** The SDK's own idle stop for the container, a minute after ours: the safety net if our alarm never comes. */
	sdkSleepAfterSeconds: number;
}

const TtlSeconds = v.pipe(v.optional(v.string(), '300'), v.transform(Number), v.integer(), v.minValue(5), v.maxValue(86_400));
const ReclaimAfterSeconds = v.pipe(v.optional(v.string(), '45'), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(86_400));

/** The grace before an unused sandbox may be reclaimed, in ms (the coordinator's heartbeat fits in it). */
export function reclaimAfterMs(env: Pick<LifetimesEnv, 'SANDBOX_RECLAIM_AFTER_SECONDS'>): number {
	return v.parse(ReclaimAfterSeconds, env.SANDBOX_RECLAIM_AFTER_SECONDS) * 1000;
}

/** Throws on a malformed setting. */
export function lifetimesOf(env: LifetimesEnv): Lifetimes {
	const idleTtlMs = v.parse(TtlSeconds, env.SANDBOX_TTL_SECONDS) * 1000;
	return {
		idleTtlMs,
		poolTtlMs: poolTtlMs(env),
		heartbeatMs: Math.max(1_000, Math.min(15_000, idleTtlMs / 3, reclaimAfterMs(env) / 3)),
		sdkSleepAfterSeconds: idleTtlMs / 1000 + 60
	};
}
