/**
 * Everything app-specific about booting a template lives here: which files and which process
 * (`initialize`), and how to tell it is up (`ready`). The coordinator does the rest: it starts the
 * container, waits for `ready` and exposes `port` — and, when it resumes a boot, finds the process
 * already running and only waits for it.
 *
 * Template sources are in sandbox/templates/, with their dependencies
 * installed ahead of time (by `npm install` locally, at image build time on
 * Cloudflare) and mounted at /templates inside every sandbox.
 */
import type { TemplateId } from '$lib/sandbox-state';
import type { Sandbox, SandboxProcess } from './sandbox/types';

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
	/** When the app is up: `path` answers on `port` (within `timeoutMs`); `label` names the step. */
	ready: { label: string; path: string; timeoutMs: number };
	/** Puts the app in place and starts its process (as `processId`), which it returns. */
	initialize(context: TemplateContext): Promise<SandboxProcess>;
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
		ready: { label: 'Waiting for the server to answer', path: '/health', timeoutMs: 30_000 },
		async initialize({ sandbox, sandboxId, progress }) {
			progress('Copying the Express app into the sandbox');
			// node_modules is linked, not copied: it was installed ahead of time and is read-only.
			await run(
				sandbox,
				'mkdir -p /workspace/app && cp /templates/express/server.js /templates/express/package.json /workspace/app/ ' +
					'&& ln -sfn /templates/express/node_modules /workspace/app/node_modules'
			);

			progress('Starting the Express server');
			return sandbox.startProcess('node server.js', {
				processId: 'express',
				cwd: '/workspace/app',
				env: { PORT: '3001', SANDBOX_ID: sandboxId }
			});
		}
	},
	vue: {
		id: 'vue',
		port: 5173,
		processId: 'vite',
		ready: { label: 'Waiting for Vite to answer', path: '/', timeoutMs: 60_000 },
		async initialize({ sandbox, progress }) {
			progress('Copying the Vue app into the sandbox');
			// The sources are copied, so they can be edited; node_modules is linked, as for Express.
			await run(
				sandbox,
				'mkdir -p /workspace/app && cd /templates/vue && cp -r index.html package.json vite.config.js src /workspace/app/ ' +
					'&& ln -sfn /templates/vue/node_modules /workspace/app/node_modules'
			);

			progress('Starting the Vite dev server');
			return sandbox.startProcess(
				// The native config loader: the default one writes a temp file into node_modules, which is read-only here.
				'node node_modules/vite/bin/vite.js --configLoader native',
				{ processId: 'vite', cwd: '/workspace/app' }
			);
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
