/**
 * The configurations of the workers run beside the deployed one (the dev companion, the test
 * workers), derived from wrangler.jsonc: their Durable Object bindings, migrations, compatibility
 * settings, buckets and variables are the deployed worker's, and cannot drift from them. What a
 * derived worker changes is said here, in one place.
 *
 * A pure function of the raw configuration, applied in the worker's process (wrangler-worker.ts,
 * which reads the file with wrangler's own parser).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The deployed worker's configuration, which every other is derived from. */
export const DEPLOYED_CONFIG = fileURLToPath(new URL('../wrangler.jsonc', import.meta.url));

/**
 * The companion worker of `npm run dev` (companion/companion.ts): the deployed Durable Objects,
 * with containers from the local engine. vite dev's platform proxy reaches them by this name
 * (wrangler.adapter.jsonc's `script_name`), as do the e2e isolates.
 */
export const COMPANION: WorkerDerivation = { main: 'dev/companion/companion.ts', name: 'sandbox-previews-dev' };

/** How a worker differs from the one wrangler.jsonc deploys. */
export interface WorkerDerivation {
	/** Its entry, from the repository's root. */
	main: string;
	/** The name the dev registry knows it by. */
	name: string;
	/** Only these Durable Object bindings (by binding name), and the migrations of their classes. */
	durableObjects?: string[];
	/**
	 * Modules its bundle takes from other files (wrangler's `alias`): { import path, as written: file
	 * from the repository's root }.
	 */
	alias?: Record<string, string>;
	/** Variables set or changed. */
	vars?: Record<string, string>;
	/**
	 * Its Durable Objects are this other worker's, reached through the dev registry (`script_name`),
	 * as isolates of the deployed worker reach the same objects: bound, not run here. It serves the
	 * app's static assets then, being the app.
	 */
	objectsOf?: string;
}

interface DurableObjectBinding {
	name: string;
	class_name: string;
	script_name?: string;
}

interface Migration {
	tag: string;
	new_sqlite_classes?: string[];
	new_classes?: string[];
}

/** What of a raw wrangler configuration is read or changed here; the rest is passed through. */
export interface RawConfig {
	main?: string;
	name?: string;
	durable_objects?: { bindings?: DurableObjectBinding[] };
	migrations?: Migration[];
	containers?: { class_name: string; image: string }[];
	vars?: Record<string, unknown>;
	[field: string]: unknown;
}

/**
 * The derived worker's configuration: paths made absolute (it is written elsewhere), without the
 * schema reference, and without the static assets (the SvelteKit build's output) unless it is the
 * app.
 */
export function deriveConfig(raw: RawConfig, derivation: WorkerDerivation, root: string): RawConfig {
	const { $schema: _schema, assets, containers, ...config } = raw;
	const { objectsOf, alias } = derivation;
	const bindings = (raw.durable_objects?.bindings ?? []).filter((binding) => !derivation.durableObjects || derivation.durableObjects.includes(binding.name));
	const classes = new Set(bindings.map((binding) => binding.class_name));
	const derived = {
		...config,
		name: derivation.name,
		main: resolve(root, derivation.main),
		vars: { ...raw.vars, ...derivation.vars },
		...(alias && { alias: Object.fromEntries(Object.entries(alias).map(([path, file]) => [path, resolve(root, file)])) })
	};
	if (objectsOf) {
		return {
			...derived,
			...(isAssets(assets) && { assets: { ...assets, directory: resolve(root, assets.directory) } }),
			durable_objects: { bindings: bindings.map((binding) => ({ ...binding, script_name: objectsOf })) },
			migrations: []
		};
	}
	const kept = (names: string[] | undefined) => names?.filter((name) => classes.has(name));
	return {
		...derived,
		durable_objects: { bindings },
		migrations: (raw.migrations ?? [])
			.map(({ new_sqlite_classes, new_classes, ...migration }) => ({
				...migration,
				...(new_sqlite_classes && { new_sqlite_classes: kept(new_sqlite_classes) }),
				...(new_classes && { new_classes: kept(new_classes) })
			}))
			.filter((migration) => (migration.new_sqlite_classes?.length ?? 0) + (migration.new_classes?.length ?? 0) > 0),
		...(containers && {
			containers: containers
				.filter((container) => classes.has(container.class_name))
				.map((container) => ({ ...container, image: resolve(root, container.image) }))
		})
	};
}

function isAssets(assets: unknown): assets is { directory: string } {
	return typeof assets === 'object' && assets !== null && typeof (assets as { directory?: unknown }).directory === 'string';
}
