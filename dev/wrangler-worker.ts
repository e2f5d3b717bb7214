/**
 * One worker in workerd through wrangler's API (`unstable_startWorker`), as `wrangler dev` would run
 * it, but without what the CLI cannot turn off:
 * - workerd's runtime inspector, a DevTools socket on 127.0.0.1 that takes a WebSocket from any
 *   Origin: any page in a local browser, and any local process, could evaluate code inside the
 *   worker that holds our secrets. Off unless SANDBOX_INSPECTOR=1; then wrangler's inspector proxy
 *   (127.0.0.1, 9229 or the next free port), which refuses other Origins, as the CLI has it.
 * - the dev registry, and with it workerd's debug port, through which any local process can call
 *   any of the worker's Durable Objects. Only with --dev-registry, for workers that bind another
 *   process's objects (`script_name`) or are bound by one.
 * - the local explorer (/cdn-cgi/local/explorer on the worker's port), which reads and writes the
 *   Durable Objects' storage for any local process. Off unless X_LOCAL_EXPLORER (wrangler's own
 *   switch) says otherwise.
 *
 * Started by wrangler-dev.ts, which owns its process group; settings come as flags, secrets only in
 * the file --env-file names (never on a command line, which any local user can read in /proc). Once
 * the worker serves, it sends its URL over the IPC channel wrangler-dev.ts opened.
 *   node dev/wrangler-worker.ts --config <path> [--entry <path>] [--name <name>] [--ip <ip>]
 *     [--port <n>] [--https] --persist <dir> --env-file <path> [--containers] [--dev-registry <dir>] [--watch]
 *     [--derive <WorkerDerivation as JSON>]
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { experimental_readRawConfig, unstable_startWorker } from 'wrangler';
import { deriveConfig, type RawConfig } from './worker-config.ts';

/** Says why the worker could not start, and ends this process (wrangler-dev.ts then ends the group). */
function fail(error: unknown): never {
	const message = error instanceof Error ? error.message : String(error);
	const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
	console.error(`[wrangler] the worker did not start: ${message}${cause}`);
	process.exit(1);
}

const flags = (() => {
	try {
		return parseArgs({
			options: {
				config: { type: 'string' },
				entry: { type: 'string' },
				name: { type: 'string' },
				ip: { type: 'string' },
				port: { type: 'string' },
				https: { type: 'boolean', default: false },
				persist: { type: 'string' },
				'env-file': { type: 'string' },
				containers: { type: 'boolean', default: false },
				'dev-registry': { type: 'string' },
				watch: { type: 'boolean', default: false },
				derive: { type: 'string' }
			},
			strict: true
		}).values;
	} catch (error) {
		fail(error);
	}
})();

// The explorer is on by default in wrangler; its own switch still turns it on.
process.env.X_LOCAL_EXPLORER ??= 'false';
// Miniflare fetches Cloudflare's `request.cf` example at every start (a request off this machine,
// and a stack trace where there is no network): a placeholder does locally (the app reads none of it).
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
/** With --derive, a worker derived from the configuration (worker-config.ts), written beside the env file. */
function configFile(): string | undefined {
	if (!flags.derive) return flags.config;
	const { rawConfig, configPath } = experimental_readRawConfig({ config: flags.config });
	const derived = join(dirname(flags['env-file']!), 'wrangler.json');
	writeFileSync(derived, JSON.stringify(deriveConfig(rawConfig as RawConfig, JSON.parse(flags.derive), dirname(configPath!))));
	return derived;
}

let worker: Awaited<ReturnType<typeof unstable_startWorker>>;
try {
	worker = await unstable_startWorker({
		config: configFile(),
		entrypoint: flags.entry,
		name: flags.name,
		envFiles: flags['env-file'] ? [flags['env-file']] : [],
		dev: {
			// With --https, wrangler's own self-signed certificate (as `wrangler dev --local-protocol https`).
			server: { hostname: flags.ip, port: flags.port === undefined ? undefined : Number(flags.port), secure: flags.https },
			inspector: process.env.SANDBOX_INSPECTOR === '1' ? { hostname: '127.0.0.1' } : false,
			persist: flags.persist,
			registry: flags['dev-registry'],
			enableContainers: flags.containers,
			watch: flags.watch
		}
	});
} catch (error) {
	fail(error);
}

let ready = false;
// Wrangler reports what goes wrong as 'error' events (a port taken, workerd failing to load the
// worker): before the worker is ready, it will not serve; later, it is told and the worker goes on.
worker.raw.on('error', (event: { reason?: string; message?: string; cause?: unknown }) => {
	if (!ready) fail(event.cause ?? new Error(event.reason ?? event.message));
	console.error(`[wrangler] ${event.reason ?? event.message}`, event.cause ?? '');
});

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
	process.on(signal, () => {
		// Stopped during its start, or a second time: at once (wrangler-dev.ts then ends workerd with the group).
		if (stopping || !ready) process.exit(0);
		stopping = true;
		void worker.dispose().finally(() => process.exit(0));
	});
}

try {
	await worker.ready;
	ready = true;
	// Where it listens (the port may have been 0: the system's pick), to wrangler-dev.ts.
	const url = String(await worker.url);
	process.send?.({ ready: url }, () => process.disconnect?.());
} catch (error) {
	fail(error);
}
