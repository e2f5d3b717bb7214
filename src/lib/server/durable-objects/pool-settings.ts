/**
 * The warm pool's settings (pool.ts), read from the worker's variables:
 *
 *   SANDBOX_POOL_SIZE          sandboxes kept started ahead of visitors, per template: one number for
 *                              every template (`1`), or per template (`express=2,vue=1`; one not named
 *                              has none). 0 turns the pool off.
 *   SANDBOX_POOL_TTL_SECONDS   how long a pooled sandbox waits for a visitor before it is replaced by
 *                              a fresh one (default 1800).
 */
import * as v from 'valibot';

export interface PoolSettingsEnv {
	SANDBOX_POOL_SIZE?: string;
	SANDBOX_POOL_TTL_SECONDS?: string;
}

const Count = v.pipe(v.string(), v.regex(/^\d{1,3}$/, 'a whole number up to 999'), v.transform(Number));
const PerTemplate = v.pipe(
	v.string(),
	v.regex(/^[a-z0-9]+=\d{1,3}(,[a-z0-9]+=\d{1,3})*$/, 'SANDBOX_POOL_SIZE is a number, or template=number pairs joined by commas (express=2,vue=1)'),
	v.transform((text) => Object.fromEntries(text.split(',').map((pair) => pair.split('=')).map(([template, count]) => [template, Number(count)])))
);
const PoolSize = v.optional(v.union([Count, PerTemplate], 'SANDBOX_POOL_SIZE is a number, or template=number pairs joined by commas (express=2,vue=1)'), '0');
const PoolTtlSeconds = v.pipe(v.optional(v.string(), '1800'), v.transform(Number), v.integer(), v.minValue(5), v.maxValue(86_400));

/** How many of `template`'s sandboxes the pool keeps started. Throws on a malformed setting. */
export function poolSizeOf(env: PoolSettingsEnv, template: string): number {
	const size = v.parse(PoolSize, env.SANDBOX_POOL_SIZE?.replaceAll(' ', ''));
	return typeof size === 'number' ? size : (size[template] ?? 0);
}

/** How long a pooled sandbox waits for a visitor, in ms. */
export function poolTtlMs(env: PoolSettingsEnv): number {
	return v.parse(PoolTtlSeconds, env.SANDBOX_POOL_TTL_SECONDS) * 1000;
}
