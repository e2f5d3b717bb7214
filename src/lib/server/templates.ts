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

export interface Template {
	id: TemplateId;
	/** The port the app serves on inside the sandbox. */
	port: number;
	/** The ID of the app's main process, used to tell whether the app already runs. */
	processId: string;
	initialize(context: TemplateContext): Promise<void>;
}

async function run(sandbox: Sandbox, command: string) {
	const result = await sandbox.exec(command);
	if (!result.success) throw new Error(`\`${command}\` failed (${result.exitCode}): ${result.stderr.trim()}`);
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
	}
};
