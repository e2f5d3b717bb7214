/**
 * The order vitest starts test files in. Six run at once, and most of a file's time is spent waiting
 * on sandboxes and their clocks, so a run lasts about as long as its slowest file started last.
 *
 * Vitest starts the files that took longest in the last run first, from its results cache. A fresh
 * clone has no cache, and vitest falls back to starting the biggest files first. Those are not the
 * slowest ones: the coordination files are short, but they wait out TTLs in workerd, and started
 * last, they ran on alone at the end (112 s on two cores; 99 s in this order). Without a cache, the
 * slowest files start first here, then the others, biggest first.
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The slowest files, slowest first (measured on two cores, six at once: 65 s down to 14 s). */
const SLOWEST = [
	'tests/coordination/coordinator.test.ts',
	'tests/coordination/pool.test.ts',
	'tests/coordination/templates.test.ts',
	'tests/coordination/lifetime.test.ts',
	'tests/engine/lifecycle.test.ts',
	'tests/conformance/sdk.test.ts',
	'tests/coordination/capacity.test.ts',
	'tests/conformance/crash.test.ts',
	'tests/coordination/reclaim.test.ts',
	'tests/engine/connections.test.ts'
];

export class SlowestFirst extends BaseSequencer {
	override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
		const sorted = await super.sort(files);
		if (files.every((file) => this.ctx.cache.getTestSpecificationResult(file))) return sorted;
		const missing = SLOWEST.filter((path) => !existsSync(join(this.ctx.config.root, path)));
		if (missing.length > 0) throw new Error(`tests/helpers/file-order.ts names files that are gone: ${missing.join(', ')}`);
		const rank = (file: TestSpecification) => {
			const index = SLOWEST.indexOf(relative(this.ctx.config.root, file.moduleId));
			return index === -1 ? SLOWEST.length : index;
		};
		// (A stable sort: the others keep vitest's order.)
		return sorted.sort((a, b) => rank(a) - rank(b));
	}
}
