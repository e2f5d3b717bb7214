/**
 * The coordinator's timed work (alarm-schedule.ts), decided without a clock: what its alarm does
 * when it fires, and when it fires next. (tests/coordination checks the same in workerd, in time.)
 */
import { describe, expect, it } from 'vitest';
import { CHECK_INTERVAL_MS, dueWork, nextAlarm, SWEEP_INTERVAL_MS, WATCHDOG_MS } from '../../src/lib/server/durable-objects/alarm-schedule.ts';

const TTL = 300_000;
const now = 1_000_000_000;
const nothing = { sweep: false, forget: false, resumeBoot: false, idleStop: false, checkApp: false };

describe('a ready sandbox', () => {
	it('in use is looked at a minute on, or at its idle deadline if that comes first', () => {
		const ready = { status: 'ready' as const, lastActiveAt: now - 10_000 };
		expect(dueWork(ready, now, TTL)).toEqual({ ...nothing, checkApp: true });
		expect(nextAlarm(ready, now, TTL)).toBe(now + CHECK_INTERVAL_MS);
		const nearlyIdle = { status: 'ready' as const, lastActiveAt: now - TTL + 5_000 };
		expect(nextAlarm(nearlyIdle, now, TTL)).toBe(now + 5_000);
	});

	it('with a TTL under two minutes is looked at twice per TTL', () => {
		expect(nextAlarm({ status: 'ready', lastActiveAt: now }, now, 8_000)).toBe(now + 4_000);
	});

	it('unused for the TTL is stopped, and not looked at first', () => {
		expect(dueWork({ status: 'ready', lastActiveAt: now - TTL }, now, TTL)).toEqual({ ...nothing, idleStop: true });
	});
});

describe('a failed sandbox', () => {
	it('is never looked at, and is stopped once unused for the TTL', () => {
		const failed = { status: 'error' as const, lastActiveAt: now - 1_000 };
		expect(dueWork(failed, now, TTL)).toEqual(nothing);
		expect(nextAlarm(failed, now, TTL)).toBe(now - 1_000 + TTL);
		expect(dueWork({ ...failed, lastActiveAt: now - TTL - 1 }, now, TTL).idleStop).toBe(true);
	});
});

describe('a booting sandbox', () => {
	it('has its boot resumed by the watchdog, a minute apart, whatever its use', () => {
		const booting = { status: 'initializing' as const, lastActiveAt: now - 10 * TTL };
		expect(dueWork(booting, now, TTL)).toEqual({ ...nothing, resumeBoot: true });
		expect(nextAlarm(booting, now, TTL)).toBe(now + WATCHDOG_MS);
	});

	it('whose container may still start late is swept every few seconds meanwhile', () => {
		const booting = { status: 'initializing' as const, lastActiveAt: now, sweepUntil: now + 60_000 };
		expect(dueWork(booting, now, TTL).sweep).toBe(true);
		expect(nextAlarm(booting, now, TTL)).toBe(now + SWEEP_INTERVAL_MS);
	});
});

describe('a stopped sandbox', () => {
	it('is swept while a late container may appear, and forgotten at its time only after that', () => {
		const stopped = { status: 'stopped' as const, lastActiveAt: now, forgetAt: now - 1, sweepUntil: now + 30_000 };
		expect(dueWork(stopped, now, TTL)).toEqual({ ...nothing, sweep: true });
		// Not at once, over and over: the next sweep, until the sweeping is done.
		expect(nextAlarm(stopped, now, TTL)).toBe(now + SWEEP_INTERVAL_MS);
		expect(dueWork({ ...stopped, sweepUntil: now }, now, TTL)).toEqual({ ...nothing, forget: true });
	});

	it('is kept until its time to be forgotten, with nothing else to do', () => {
		const stopped = { status: 'stopped' as const, lastActiveAt: now - 2 * TTL, forgetAt: now + 3600_000 };
		expect(dueWork(stopped, now, TTL)).toEqual(nothing);
		expect(nextAlarm(stopped, now, TTL)).toBe(now + 3600_000);
	});
});
