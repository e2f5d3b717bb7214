/**
 * One boot of a sandbox: start its container, run the template's `initialize`, expose the app's
 * port. The coordinator runs it (once per sandbox, however many requests ask) and records its steps.
 */
import { SandboxError, type Sandbox, type SandboxProcess } from '../sandbox/types';
import { previewUrlFor } from '../sandbox/rules';
import type { Template } from '../templates';

/**
 * How long the container may take to start. The SDK retries a full machine ("no container
 * instance") for 120 s or more, and has no option to shorten that: past this, the visitor is told
 * that every sandbox is busy. (The SDK goes on trying meanwhile, and nothing can stop it: the
 * coordinator stops a container that starts late, see LATE_START_WINDOW_MS.)
 */
export const CONTAINER_START_DEADLINE_MS = 20_000;

/** How long the SDK may go on trying to start a container after the deadline (its retries, and some). */
export const LATE_START_WINDOW_MS = 150_000;

export interface BootOptions {
	sandbox: Sandbox;
	template: Template;
	/** The app's origin: preview URLs hang off its host, with its scheme and port. */
	origin: string;
	/** Starts the next step the visitor sees; throws once the boot is no longer wanted. */
	progress(label: string): void;
	/** Called once the container is known to run (until then, the SDK may still be starting one). */
	containerUp(): void;
	/** Look for the app's process first (a boot resumed after the coordinator restarted, or a wake-up). */
	recover: boolean;
}

/** Boots the sandbox and returns its preview URL. */
export async function boot({ sandbox, template, origin, progress, containerUp, recover }: BootOptions): Promise<string> {
	let server: SandboxProcess | null = null;
	if (recover) {
		progress('Connecting to the sandbox');
		// Starts the container if it has none: then there is no process, and the boot goes on as new.
		const running = await sandbox.getProcess(template.processId);
		containerUp();
		if (running?.status === 'running') server = running;
	}
	if (!server) {
		// The container starts with the first call that needs one: a step of its own, so that the
		// progress shows what a slow start waits for (not the template's first step).
		progress('Starting the sandbox');
		await containerStarted(sandbox);
		containerUp();
		server = await template.initialize({ sandbox, sandboxId: sandbox.id, progress });
	}
	progress(template.ready.label);
	await server.waitForPort(template.port, { path: template.ready.path, timeout: template.ready.timeoutMs, interval: 100 });
	progress('Exposing the preview URL');
	return expose(sandbox, template.port, origin);
}

async function containerStarted(sandbox: Sandbox) {
	// Its own timeout well past the deadline, so that the deadline is what a full machine meets.
	const started = sandbox.exec('true', { timeout: CONTAINER_START_DEADLINE_MS });
	let timer: ReturnType<typeof setTimeout> | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() =>
				reject(new SandboxError('CAPACITY_EXCEEDED', `the container did not start within ${CONTAINER_START_DEADLINE_MS / 1000} s`, { retryable: true })),
			CONTAINER_START_DEADLINE_MS
		);
	});
	try {
		await Promise.race([started, deadline]);
	} finally {
		clearTimeout(timer);
		started.catch(() => {}); // settles after the deadline, or not at all: nobody waits for it
	}
}

/**
 * The hostname to give the SDK for preview URLs: without the port, which it mangles for any host
 * but localhost (previewUrlFor puts the app's scheme and port back).
 */
function sdkHostname(origin: string): string {
	return new URL(origin).hostname;
}

/** Exposes the port; a port that is already exposed (a revived sandbox) keeps its token. */
async function expose(sandbox: Sandbox, port: number, origin: string): Promise<string> {
	const host = sdkHostname(origin);
	try {
		return previewUrlFor((await sandbox.exposePort(port, { hostname: host })).url, origin);
	} catch (error) {
		if (!/already exposed/i.test(String((error as Error)?.message))) throw error;
		const exposed = (await sandbox.getExposedPorts(host)).find((p) => p.port === port);
		if (!exposed) throw error;
		return previewUrlFor(exposed.url, origin);
	}
}

/** What the visitor is told when a boot fails. Every failure may be retried with a fresh sandbox. */
export function describeFailure(error: unknown): { message: string; retryable: boolean } {
	const code = error instanceof SandboxError ? error.code : null;
	if (code === 'CAPACITY_EXCEEDED') {
		return { message: 'All sandboxes are busy right now. Please try again in a minute.', retryable: true };
	}
	if (code === 'BACKEND_UNAVAILABLE') {
		return { message: 'The sandbox service is not reachable right now. Please try again shortly.', retryable: true };
	}
	if (code === 'PROCESS_EXITED_BEFORE_READY') {
		return { message: 'The app in the sandbox stopped before it was ready.', retryable: true };
	}
	return { message: 'The sandbox could not be started.', retryable: true };
}
