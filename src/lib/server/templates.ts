/**
 * Everything app-specific about booting a template lives in its `initialize`:
 * which files, which process, when it is ready. The manager does the rest,
 * including exposing `port` once `initialize` returns.
 *
 * Template sources are in sandbox/templates/, with their dependencies
 * installed ahead of time (by `npm install` locally, at image build time on
 * Cloudflare) and mounted at /templates inside every sandbox.
 */
import type { TemplateId } from '$lib/sandbox-state';
import type { Sandbox } from './sandbox/types';

export interface TemplateContext {
	sandbox: Sandbox;
	sandboxId: string;
	/** Starts a new step of the boot progress the visitor sees. */
	progress(label: string): void;
}

/** What the visitor may edit in the page (see source-files.ts), relative to the app's directory. */
export interface EditableSources {
	/** The files the editor lists; the first opens by default. */
	files: string[];
	/** Directories any text file inside which may be opened and saved, too. */
	directories: string[];
	/**
	 * How many browsers will apply a saved change by themselves (hot reload). With none, the page
	 * reloads the preview instead.
	 */
	liveClients(sandbox: Sandbox): Promise<number>;
}

export interface Template {
	id: TemplateId;
	/** The port the app serves on inside the sandbox. */
	port: number;
	/** The ID of the app's main process, used to tell whether the app already runs. */
	processId: string;
	initialize(context: TemplateContext): Promise<void>;
	/** Templates without it show no editor. */
	sources?: EditableSources;
}

/** Commands the templates run are short; a hung one must not hold a boot or a save forever. */
const COMMAND_TIMEOUT_MS = 30_000;

async function run(sandbox: Sandbox, command: string): Promise<string> {
	const result = await sandbox.exec(command, { timeout: COMMAND_TIMEOUT_MS });
	if (!result.success) throw new Error(`\`${command}\` failed (${result.exitCode}): ${result.stderr.trim()}`);
	return result.stdout;
}

export const templates: Record<TemplateId, Template> = {
	express: {
		id: 'express',
		port: 3001,
		processId: 'express',
		async initialize({ sandbox, sandboxId, progress }) {
			progress('Copying the Express app into the sandbox');
			// node_modules is linked, not copied: it was installed ahead of time and is read-only.
			await run(
				sandbox,
				'mkdir -p /workspace/app && cp /templates/express/server.js /templates/express/package.json /workspace/app/ ' +
					'&& ln -sfn /templates/express/node_modules /workspace/app/node_modules'
			);

			progress('Starting the Express server');
			const server = await sandbox.startProcess('node server.js', {
				processId: 'express',
				cwd: '/workspace/app',
				env: { PORT: '3001', SANDBOX_ID: sandboxId }
			});

			progress('Waiting for the server to answer');
			await server.waitForPort(3001, { path: '/health', timeout: 30_000, interval: 100 });
		}
	},
	vue: {
		id: 'vue',
		port: 5173,
		processId: 'vite',
		async initialize({ sandbox, progress }) {
			progress('Copying the Vue app into the sandbox');
			// The sources are copied, so they can be edited; node_modules is linked, as for Express.
			await run(
				sandbox,
				'mkdir -p /workspace/app && cd /templates/vue && cp -r index.html package.json vite.config.js src /workspace/app/ ' +
					'&& ln -sfn /templates/vue/node_modules /workspace/app/node_modules'
			);

			progress('Starting the Vite dev server');
			const server = await sandbox.startProcess(
				// The native config loader: the default one writes a temp file into node_modules, which is read-only here.
				'node node_modules/vite/bin/vite.js --configLoader native',
				{ processId: 'vite', cwd: '/workspace/app' }
			);

			progress('Waiting for Vite to answer');
			await server.waitForPort(5173, { path: '/', timeout: 60_000, interval: 100 });
		},
		sources: {
			files: ['src/App.vue', 'src/main.js', 'index.html'],
			directories: ['src'],
			async liveClients(sandbox) {
				// Asked from inside the sandbox: the status endpoint is the template's own (see its vite.config.js).
				const output = await run(
					sandbox,
					`node -e "fetch('http://127.0.0.1:5173/__sandbox/hmr').then((r) => r.text()).then((t) => process.stdout.write(t))"`
				);
				const clients = Number(JSON.parse(output).clients);
				return Number.isInteger(clients) ? clients : 0;
			}
		}
	}
};
