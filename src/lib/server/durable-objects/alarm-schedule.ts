/**
 * The coordinator's timed work, as pure functions of its record and the time: what is due when its
 * one alarm fires (`dueWork`), and when the alarm should fire next (`nextAlarm`). The coordinator
 * does the work; these decide it, and are tested in Node without waiting for a clock.
 */
import type { SandboxStatus } from '../../sandbox-state';

/** How often the watchdog looks at a boot: one that is not running in this object is resumed. */
export const WATCHDOG_MS = 60_000;
/**
 * The longest between two looks at a ready sandbox's app: well within the SDK's `sleepAfter` (the TTL
 * and a minute), which each look renews.
 */
export const CHECK_INTERVAL_MS = 60_000;
/** How often a container that may start late is looked for (and stopped). */
export const SWEEP_INTERVAL_MS = 5_000;

/** What of the coordinator's record the schedule depends on. */
export interface Timed {
	status: SandboxStatus;
	/** When the sandbox was last used (epoch ms). */
	lastActiveAt: number;
	/** Until when a container that starts late is stopped again. */
	sweepUntil?: number;
	/** When a stopped sandbox's record is forgotten. */
	forgetAt?: number;
}

export interface DueWork {
	/** Stop any container the sandbox has (one may have started after its stop or failed boot). */
	sweep: boolean;
	/** Forget the stopped sandbox's record: nothing else is due, ever. */
	forget: boolean;
	/** Resume the boot, unless one runs in this object. */
	resumeBoot: boolean;
	/** Stop the sandbox: unused for the TTL. */
	idleStop: boolean;
	/** Look at the ready sandbox's app. */
	checkApp: boolean;
}

export function dueWork({ status, lastActiveAt, sweepUntil, forgetAt }: Timed, now: number, ttlMs: number): DueWork {
	const sweeping = sweepUntil !== undefined && now < sweepUntil;
	const idle = (status === 'ready' || status === 'error') && now - lastActiveAt >= ttlMs;
	return {
		sweep: sweeping,
		forget: status === 'stopped' && now >= (forgetAt ?? 0) && !sweeping,
		resumeBoot: status === 'initializing',
		idleStop: idle,
		checkApp: status === 'ready' && !idle
	};
}

/** When the alarm is next due: the soonest of what the record still waits for. */
export function nextAlarm({ status, lastActiveAt, sweepUntil, forgetAt }: Timed, now: number, ttlMs: number): number {
	const sweeping = sweepUntil !== undefined && now < sweepUntil;
	const due = [];
	if (sweeping) due.push(now + SWEEP_INTERVAL_MS);
	if (status === 'initializing') due.push(now + WATCHDOG_MS);
	// Not forgotten while it is swept (an alarm due at once would fire over and over meanwhile).
	if (status === 'stopped') due.push(Math.max(forgetAt ?? now, sweeping ? sweepUntil : now));
	if (status === 'ready' || status === 'error') due.push(lastActiveAt + ttlMs);
	if (status === 'ready') due.push(now + Math.min(CHECK_INTERVAL_MS, ttlMs / 2));
	return Math.min(...due);
}
