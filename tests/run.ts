/**
 * `npm test`: the worker built once, then vitest, then Playwright against that build; at the end,
 * how long each part took. Either suite also runs on its own (`npx vitest run`, `npx playwright
 * test`), building when it needs to (helpers/build.ts).
 */
import { spawnSync } from 'node:child_process';
import { buildWorker } from './helpers/build.ts';

const SUITES = {
	vitest: ['node_modules/vitest/vitest.mjs', 'run'],
	playwright: ['node_modules/@playwright/test/cli.js', 'test']
};

const took: string[] = [];
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(0)} s`;

let started = performance.now();
buildWorker();
took.push(`build ${seconds(started)}`);
// The suites' processes inherit it: neither builds again.
process.env.SANDBOX_TEST_BUILT = '1';

let failed = false;
for (const [name, args] of Object.entries(SUITES)) {
	started = performance.now();
	failed = spawnSync(process.execPath, args, { stdio: 'inherit' }).status !== 0;
	took.push(`${name} ${seconds(started)}${failed ? ' (failed)' : ''}`);
	if (failed) break;
}
console.log(`\nnpm test: ${took.join(', ')}`);
process.exit(failed ? 1 : 0);
