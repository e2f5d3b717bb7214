import { describe, expect, it } from 'vitest';
import { poolSizeOf, poolTtlMs } from '../../src/lib/server/durable-objects/pool-settings.ts';

describe('the warm pool settings', () => {
	it('are off unless set', () => {
		expect(poolSizeOf({}, 'express')).toBe(0);
		expect(poolTtlMs({})).toBe(1_800_000);
	});

	it('take one size for every template, or one per template', () => {
		expect(poolSizeOf({ SANDBOX_POOL_SIZE: '2' }, 'vue')).toBe(2);
		const env = { SANDBOX_POOL_SIZE: 'express=3, vue=0' };
		expect([poolSizeOf(env, 'express'), poolSizeOf(env, 'vue'), poolSizeOf(env, 'hono')]).toEqual([3, 0, 0]);
		expect(poolTtlMs({ SANDBOX_POOL_TTL_SECONDS: '60' })).toBe(60_000);
	});

	it('refuse a malformed setting, saying what is expected', () => {
		for (const setting of ['-1', 'lots', 'express=', 'express=1;vue=2', '1000', '1.5']) {
			expect(() => poolSizeOf({ SANDBOX_POOL_SIZE: setting }, 'express'), setting).toThrow(/SANDBOX_POOL_SIZE is a number/);
		}
		expect(() => poolTtlMs({ SANDBOX_POOL_TTL_SECONDS: '1' })).toThrow();
	});
});
