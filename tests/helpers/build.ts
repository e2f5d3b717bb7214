/**
 * The worker as `npm run preview` and `wrangler deploy` take it: `vite build`, once per test run.
 * `npm test` (tests/run.ts) builds before either suite and says so with SANDBOX_TEST_BUILT; a suite
 * run on its own builds when a test first needs it — once, however many test files ask at once.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { oncePerRun } from './once-per-run.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `vite build`, and throws with its output if it fails. */
export function buildWorker() {
	const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { cwd: ROOT, encoding: 'utf8' });
	if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
}

/** Makes sure this run has built the worker: once, however many test files ask at once. */
export async function builtWorker() {
	if (process.env.SANDBOX_TEST_BUILT !== '1') await oncePerRun('build', buildWorker);
}

/**
 * What an npm script that builds first (`preview`, `deploy:check`) runs after its `vite build &&`:
 * tests run that part over this run's build, since a second build would rewrite the output under
 * the targets serving it. Throws if the script does not start with that build.
 */
export function commandAfterBuild(script: string): string {
	const command: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts[script];
	const [build, after] = command.split(/ && (.*)/s);
	if (build !== 'vite build' || !after) throw new Error(`npm run ${script} is "${command}": it should start with \`vite build &&\``);
	return after;
}

/** The environment npm runs a script in: the project's binaries first on the PATH. */
export function scriptEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
	return { ...env, PATH: [join(ROOT, 'node_modules/.bin'), env.PATH].join(delimiter) };
}
