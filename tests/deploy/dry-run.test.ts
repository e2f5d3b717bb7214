/**
 * The deploy bundle, without Docker or an account: `npm run deploy:check` builds the app and has
 * wrangler bundle the worker exactly as `wrangler deploy` would, without uploading it or building
 * the container image. The test runs its second half over the run's one build (helpers/build.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtWorker, commandAfterBuild, scriptEnv } from '../helpers/build.ts';

describe('npm run deploy:check', () => {
	it('bundles a worker that exports the Sandbox Durable Object and a default fetch handler', async () => {
		await builtWorker();
		// As npm runs the script, over the run's build.
		const run = spawnSync(commandAfterBuild('deploy:check'), { shell: true, encoding: 'utf8', timeout: 240_000, env: scriptEnv() });
		expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
		expect(run.stdout).toMatch(/env\.Sandbox \(Sandbox\)\s+Durable Object/);
		expect(run.stdout).toContain('sandbox/Dockerfile');
		expect(run.stdout).toMatch(/env\.BACKUP_BUCKET \(sandbox-preview-edits\)\s+R2 Bucket/);

		const bundle = readFileSync('.wrangler/dry-run/worker.js', 'utf8');
		const exported = [...bundle.matchAll(/^export \{([^}]*)\};/gm)].at(-1)?.[1] ?? '';
		const names = exported.split(',').map((entry) => entry.trim().split(/\s+as\s+/).at(-1));
		// Every Durable Object class wrangler.jsonc binds, and the handler.
		for (const name of ['Sandbox', 'SandboxCoordinator', 'StartGate', 'Capacity', 'SavedEdits', 'default']) expect(names).toContain(name);
		// The default export is the entry's handler object, with its fetch.
		const local = exported.split(',').map((entry) => entry.trim()).find((entry) => entry.endsWith(' as default'))!.split(' ')[0];
		expect(bundle).toMatch(new RegExp(`var ${local} = \\{\\s*async fetch\\(`));
		// The SDK's own Sandbox class, with none of the local container engine (engine/workerd/).
		for (const marker of ['EngineContainer', 'SANDBOX_ENGINE_URL', 'x-sandbox-engine-original-host', '/v1/containers/']) {
			expect(bundle).not.toContain(marker);
		}
	}, 240_000);

	it('counts as many sandboxes as Cloudflare runs: SANDBOX_MAX_INSTANCES is the container\'s max_instances', () => {
		// wrangler.jsonc's comments are whole lines or trail a value; no string in it holds "//".
		const config = JSON.parse(readFileSync('wrangler.jsonc', 'utf8').replace(/\/\/.*$/gm, ''));
		expect(config.vars.SANDBOX_MAX_INSTANCES).toBe(String(config.containers[0].max_instances));
	});
});
