import { describe, expect, it } from 'vitest';
import { lifetimesOf } from '../../src/lib/server/durable-objects/lifetimes.ts';

describe("a sandbox's lifetimes", () => {
	it('default to five idle minutes, with the SDK stopping the container a minute after', () => {
		expect(lifetimesOf({})).toMatchObject({ idleTtlMs: 300_000, poolTtlMs: 1_800_000, sdkSleepAfterSeconds: 360 });
	});

	it('make a visible tab say it is open well within the idle TTL and the reclaim grace', () => {
		expect(lifetimesOf({}).heartbeatMs).toBe(15_000);
		expect(lifetimesOf({ SANDBOX_TTL_SECONDS: '30' }).heartbeatMs).toBe(10_000);
		expect(lifetimesOf({ SANDBOX_RECLAIM_AFTER_SECONDS: '6' }).heartbeatMs).toBe(2_000);
		// Never more often than once a second, however short the TTL.
		expect(lifetimesOf({ SANDBOX_TTL_SECONDS: '5' }).heartbeatMs).toBe(1_666.6666666666667);
	});

	it('refuse a TTL out of range', () => {
		for (const setting of ['4', '86401', '1.5', 'soon']) expect(() => lifetimesOf({ SANDBOX_TTL_SECONDS: setting }), setting).toThrow();
	});
});
