/**
 * One boot of a sandbox, the same for every template: start its container, copy the template's
 * folder into the app's directory (its installed node_modules linked, not copied), start the app's
 * command, wait until it answers, expose its port. A new sandbox restores its visitor's saved edits
 * over the copy (the coordinator's `freshApp`). The coordinator runs it (once per sandbox,
 * however many requests ask) and records its steps. A restart is the same boot in the running
 * container, from stopping the app on: the app's files, edited or not, stay as they are.
 */
import { SandboxError, type Sandbox, type SandboxProcess } from '../sandbox/types';
import { isLoopback, listenersOn, socketAddresses } from '../sandbox/listeners';
import { previewUrlFor } from '../sandbox/rules';
import { APP_DIR } from '../source-files';
import type { Template } from '../templates/catalog';
import { NotReady } from './boot-failures';

/**
 * How long the container may take to start. The SDK retries a full machine ("no container
 * instance") for 120 s or more, and has no option to shorten that: past this, the visitor is told
 * that every sandbox is busy. (The SDK goes on trying meanwhile, and nothing can stop it: the
 * coordinator stops a container that starts late, see LATE_START_WINDOW_MS.)
 */
export const CONTAINER_START_DEADLINE_MS = 20_000;

/** How long the SDK may go on trying to start a container after the deadline (its retries, and some). */
export const LATE_START_WINDOW_MS = 150_000;

/** The ID of the app's process in every sandbox: how a resumed boot finds it running. */
export const APP_PROCESS_ID = 'app';

/** The boot's own commands are short; a hung one must not hold the boot forever. */
const COMMAND_TIMEOUT_MS = 30_000;

/** How long a restart lets the app end by itself before it is killed. */
const STOP_GRACE_MS = 5_000;

/** How long the SDK's object may take to hear that its container died (a few milliseconds here). */
const CONTAINER_EXIT_NOTICE_MS = 1_000;

/** A step that puts files back over the template's (a visitor's saved edits): its label, and the work. */
export interface RestoreStep {
	label: string;
	restore(): Promise<void>;
}

export interface BootOptions {
	sandbox: Sandbox;
	template: Template;
	/** Environment the app's process gets besides PORT and SANDBOX_ID (its API token, if it has one). */
	env?: Record<string, string>;
	/** The app's origin: preview URLs hang off its host, with its scheme and port. Null: no preview yet (a pooled sandbox's boot). */
	origin: string | null;
	/** Starts the next step the visitor sees; throws once the boot is no longer wanted. */
	progress(label: string): void;
	/** Called once the container is known to run (until then, the SDK may still be starting one). */
	containerUp(): void;
	/**
	 * Called once the app's files are the template's (copied into a fresh container, or a claimed
	 * sandbox's, untouched): what to restore over them, if anything.
	 */
	freshApp?(): Promise<RestoreStep | null>;
	/**
	 * `new`: a fresh container. `recover`: look for the app's process first (a boot resumed after the
	 * coordinator restarted, or a wake-up). `claim`: the same, silently, for a pooled sandbox a visitor
	 * has claimed (its app runs, most likely: only its preview is left to make). `restart`: stop the
	 * app's process and start it again.
	 */
	mode: 'new' | 'recover' | 'claim' | 'restart';
}

/** Boots the sandbox and returns its preview URL (null without an origin). */
export async function boot({ sandbox, template, env = {}, origin, progress, containerUp, freshApp, mode }: BootOptions): Promise<string | null> {
	let server: SandboxProcess | null = null;
	// A restart (or a claim that restored edits) finds the app's process, running or ended, in its
	// container; none means the container went away meanwhile and a fresh one came up: it gets the
	// app as a boot does.
	let hasContainer = false;
	if (mode === 'restart') {
		progress('Stopping the app');
		hasContainer = await stopApp(sandbox);
		containerUp();
	}
	if (mode === 'recover' || mode === 'claim') {
		if (mode === 'recover') progress('Connecting to the sandbox');
		// Starts the container if it has none: then there is no process, and the boot goes on as new.
		const running = await sandbox.getProcess(APP_PROCESS_ID);
		containerUp();
		if (running?.status === 'running') server = running;
	}
	if (mode === 'claim' && server) {
		// The visitor's saved edits go over the pooled app's files, and the app starts again with
		// them, as a restart starts it.
		const restoring = await freshApp?.();
		if (restoring && (await restored(restoring, progress))) {
			progress('Stopping the app');
			hasContainer = await stopApp(sandbox);
			server = null;
		}
	}
	if (!server && !hasContainer) {
		// The container starts with the first call that needs one: a step of its own, so that the
		// progress shows what a slow start waits for (not the template's first step).
		progress('Starting the sandbox');
		await containerStarted(sandbox);
		containerUp();
		progress('Copying the app into the sandbox');
		const copied = await copyApp(sandbox, template.id);
		const restoring = copied ? await freshApp?.() : null;
		if (restoring) await restored(restoring, progress);
	}
	const claimedRunning = server !== null;
	if (!server) {
		progress(template.start.label);
		server = await sandbox.startProcess(template.start.command, {
			processId: APP_PROCESS_ID,
			cwd: APP_DIR,
			env: { ...env, PORT: String(template.port), SANDBOX_ID: sandbox.id }
		});
	}
	const app = server;
	const answers = async () => {
		await waitUntilReady(sandbox, app, template);
		await reachableFromOutside(sandbox, template);
	};
	if (mode === 'claim' && claimedRunning && origin !== null) {
		// A claimed sandbox's app answered before (its pool's boot shows the step): it is looked at
		// again while its preview is made, and the boot fails if it no longer answers.
		progress('Exposing the preview URL');
		const [, previewUrl] = await Promise.all([answers(), expose(sandbox, template.port, origin)]);
		return previewUrl;
	}
	progress(template.ready.label);
	await answers();
	if (origin === null) return null;
	progress('Exposing the preview URL');
	return expose(sandbox, template.port, origin);
}

/**
 * Puts the saved edits in place, as a step: true if they were. The app starts either way: without
 * them, it is as the template has it.
 */
async function restored(restoring: RestoreStep, progress: BootOptions['progress']): Promise<boolean> {
	progress(restoring.label);
	try {
		await restoring.restore();
		return true;
	} catch (error) {
		console.error('[boot] restoring saved edits failed', error);
		progress('The saved edits could not be restored: starting the app as the template has it');
		return false;
	}
}

/**
 * The app's process, given a few seconds to end by itself once asked (an app may close its
 * connections first), then killed: its port must be free for the next one. False if the container
 * has no such process at all.
 */
async function stopApp(sandbox: Sandbox): Promise<boolean> {
	const app = await appProcessAfterACrash(sandbox);
	if (!app) return false;
	if (app.status !== 'running' || (await ended(app, STOP_GRACE_MS, 'SIGTERM'))) return true;
	await ended(app, STOP_GRACE_MS, 'SIGKILL');
	return true;
}

/**
 * The app's process, or null in a new container. A restart may follow its container's death by
 * moments (the visitor saw the preview fail and clicked): the SDK's object still takes the container
 * for running, and the call, proxied to nothing, fails with a 500. Asked again once the object has
 * heard of the exit, it starts a new container.
 */
async function appProcessAfterACrash(sandbox: Sandbox): Promise<SandboxProcess | null> {
	try {
		return await sandbox.getProcess(APP_PROCESS_ID);
	} catch (error) {
		if (!(error instanceof SandboxError) || !['INTERNAL', 'BACKEND_UNAVAILABLE'].includes(error.code)) throw error;
		await new Promise((resolve) => setTimeout(resolve, CONTAINER_EXIT_NOTICE_MS));
		return sandbox.getProcess(APP_PROCESS_ID);
	}
}

/** Sends `signal`; true once the process has ended, false if it still runs after `withinMs`. */
async function ended(app: SandboxProcess, withinMs: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
	await app.kill(signal);
	for (const deadline = Date.now() + withinMs; Date.now() < deadline; ) {
		if ((await app.getStatus()) !== 'running') return true;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	return false;
}

/** Waits for the app to answer its ready path; when it does not in time, says what it did instead. */
async function waitUntilReady(sandbox: Sandbox, server: SandboxProcess, { port, ready }: Template) {
	try {
		await server.waitForPort(port, { path: ready.path, timeout: ready.timeoutSeconds * 1000, interval: 100 });
	} catch (error) {
		if (!(error instanceof SandboxError) || error.code !== 'PROCESS_READY_TIMEOUT') throw error;
		const within = `within ${ready.timeoutSeconds} s`;
		if ((await listenersOn(sandbox, port).catch(() => null))?.length === 0) throw new NotReady(`Nothing listened on port ${port} ${within}.`, null, error);
		const answered = await sandbox
			.containerFetch(new Request(`http://localhost${ready.path}`), port)
			.then(async (response) => (await response.body?.cancel(), response.status))
			.catch(() => null);
		if (answered === null) throw new NotReady(`Nothing answered on port ${port} ${within}.`, null, error);
		throw new NotReady(`The app answered ${answered} to GET ${ready.path} ${within}: it is ready once it answers with a 2xx or 3xx there.`, answered, error);
	}
}

/**
 * The probe above asks from inside the sandbox, over its loopback; previews arrive at the
 * container's own address. An app that answers the one but not the other listens on 127.0.0.1 (or
 * `localhost`) only: the boot fails with the addresses as the evidence (LOOPBACK_ONLY).
 */
async function reachableFromOutside(sandbox: Sandbox, { port, ready }: Template) {
	try {
		const response = await sandbox.containerFetch(new Request(`http://localhost${ready.path}`), port);
		await response.body?.cancel();
	} catch (error) {
		if (!(error instanceof SandboxError) || error.code !== 'PORT_UNREACHABLE') throw error;
		const addresses = await listenersOn(sandbox, port).catch(() => []);
		if (addresses.length > 0 && addresses.every(isLoopback)) {
			throw new SandboxError('LOOPBACK_ONLY', socketAddresses(addresses, port));
		}
		throw error;
	}
}

/**
 * Copies everything in the template's folder but its manifest and node_modules, which is linked: it
 * was installed ahead of time and is read-only. (The ID is a catalog key: lowercase letters and digits.)
 * The copy is made beside the app's directory and moved into place whole, so that a container that
 * has the app already (a boot resumed after its copy, an app that exited and is started again) keeps
 * it as it is, the visitor's edits included, and never half a copy. True if it copied.
 */
async function copyApp(sandbox: Sandbox, id: string): Promise<boolean> {
	const staging = `${APP_DIR}.copying`;
	const command =
		`if test -d ${APP_DIR}; then echo kept; else rm -rf ${staging} && mkdir -p ${staging} && cd /templates/${id} && ` +
		`find . -mindepth 1 -maxdepth 1 ! -name node_modules ! -name template.json -exec cp -R -t ${staging} {} + && ` +
		`ln -sfn /templates/${id}/node_modules ${staging}/node_modules && mv ${staging} ${APP_DIR} && echo copied; fi`;
	const result = await sandbox.exec(command, { timeout: COMMAND_TIMEOUT_MS });
	if (!result.success) throw new Error(`copying the app failed (${result.exitCode}): ${result.stderr.trim()}`);
	return result.stdout.trim() === 'copied';
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
