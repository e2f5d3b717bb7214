/**
 * The workers run beside the deployed one take their configuration from wrangler.jsonc
 * (dev/worker-config.ts): the same Durable Objects, migrations and settings, changed only as each
 * says.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimental_readRawConfig } from 'wrangler';
import { COMPANION, DEPLOYED_CONFIG, deriveConfig, type RawConfig } from '../../dev/worker-config.ts';

const { rawConfig, configPath } = experimental_readRawConfig({ config: DEPLOYED_CONFIG });
const deployed = rawConfig as RawConfig;
const root = dirname(configPath!);

describe('a worker derived from wrangler.jsonc', () => {
	it("has the deployed worker's Durable Objects, migrations, settings and variables, at its own entry and name, without the app's assets", () => {
		const companion = deriveConfig(deployed, COMPANION, root);
		expect(companion.durable_objects).toEqual(deployed.durable_objects);
		expect(companion.migrations).toEqual(deployed.migrations);
		for (const field of ['compatibility_date', 'compatibility_flags', 'r2_buckets', 'vars']) expect(companion[field], field).toEqual(deployed[field]);
		expect(companion).toMatchObject({ name: 'sandbox-previews-dev', main: `${root}/dev/companion/companion.ts` });
		expect(existsSync(companion.main!)).toBe(true);
		expect(companion.assets).toBeUndefined();
		expect(companion.$schema).toBeUndefined();
		// Written elsewhere, its paths still lead to the repository's files.
		for (const container of companion.containers!) expect(existsSync(container.image), container.image).toBe(true);
	});

	it('takes a module of its bundle from another file, named from the repository root', () => {
		const derived = deriveConfig(deployed, { main: 'tests/coordination/worker.ts', name: 'c', alias: { './catalog.generated': 'tests/catalog.ts' } }, root);
		expect(derived.alias).toEqual({ './catalog.generated': `${root}/tests/catalog.ts` });
		expect(deriveConfig(deployed, COMPANION, root).alias).toBeUndefined();
	});

	it('with some Durable Objects only, keeps their migrations and containers alone, and sets its variables over the deployed ones', () => {
		const derived = deriveConfig(deployed, { main: 'tests/conformance/worker.ts', name: 'c', durableObjects: ['Sandbox'], vars: { SANDBOX_TTL_SECONDS: '8' } }, root);
		expect(derived.durable_objects!.bindings).toEqual([{ name: 'Sandbox', class_name: 'Sandbox' }]);
		expect(derived.migrations).toEqual([{ tag: 'v1', new_sqlite_classes: ['Sandbox'] }]);
		expect(derived.containers).toHaveLength(1);
		expect(derived.vars).toEqual({ ...deployed.vars, SANDBOX_TTL_SECONDS: '8' });
	});

	it("as the app over another worker's Durable Objects, binds them by that worker's name, runs none, and serves the assets", () => {
		const derived = deriveConfig(deployed, { main: 'src/worker.ts', name: 'isolate-a', objectsOf: COMPANION.name }, root);
		expect(derived.durable_objects!.bindings).toEqual(deployed.durable_objects!.bindings!.map((binding) => ({ ...binding, script_name: 'sandbox-previews-dev' })));
		expect(derived.migrations).toEqual([]);
		expect(derived.containers).toBeUndefined();
		expect(derived.assets).toMatchObject({ directory: `${root}/.svelte-kit/cloudflare`, binding: 'ASSETS', run_worker_first: true });
	});
});
