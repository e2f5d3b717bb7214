/**
 * One boot of a coordinator's sandbox (boot.ts does the steps), and what came of it, for the
 * coordinator (coordinator.ts) to settle: its sandbox is ready; it is ready but its app failed a
 * restart (the visitor mends it); it failed, with the app's last lines when the app was at fault;
 * or it was superseded meanwhile (stopped, or a newer boot began), and nothing it found matters.
 */
import type { AppProblem, SandboxSnapshot } from '../../sandbox-state';
import { lastLines, restartFailure } from '../app-problems';
import { SandboxError, type Sandbox } from '../sandbox/types';
import type { Template } from '../templates/catalog';
import { boot, type BootOptions, type RestoreStep } from './boot';
import { describeFailure } from './boot-failures';

export type BootOutcome =
	| { kind: 'ready'; previewUrl: string | null }
	| { kind: 'app-failed-restart'; problem: AppProblem }
	| { kind: 'failed'; error: NonNullable<SandboxSnapshot['error']> }
	| { kind: 'superseded' };

export interface BootRun {
	sandbox: Sandbox;
	template: Template;
	mode: BootOptions['mode'];
	/** The app's origin (null: a pooled sandbox, no preview yet). */
	origin: string | null;
	/** The API console's bearer token, for a template with an API: the app's process gets it. */
	apiToken?: string;
	/** What the app was given that no line of its output may show. */
	secrets: string[];
	/** Whether the boot is still wanted: false once the sandbox stopped or a newer boot began. */
	current(): boolean;
	/** Starts the next step the visitor sees. */
	step(label: string): void;
	/** The template's files are freshly copied: what to restore over them, if anything. */
	freshApp(): Promise<RestoreStep | null>;
}

/**
 * Boots, and says how it went. `containerUp`: whether the container was known to run (until then,
 * the SDK may still be starting one after a failure, to be stopped when it does).
 */
export async function runBoot(run: BootRun): Promise<{ outcome: BootOutcome; containerUp: boolean }> {
	const { sandbox, template, mode, current, secrets } = run;
	let containerUp = false;
	try {
		const previewUrl = await boot({
			sandbox,
			template,
			env: appEnv(template, run.apiToken),
			origin: run.origin,
			mode,
			containerUp: () => (containerUp = true),
			freshApp: run.freshApp,
			progress: (label) => {
				if (!current()) throw new Superseded();
				run.step(label);
			}
		});
		return { outcome: current() ? { kind: 'ready', previewUrl } : { kind: 'superseded' }, containerUp };
	} catch (error) {
		if (!current()) return { outcome: { kind: 'superseded' }, containerUp };
		const { message, retryable } = describeFailure(error);
		// A restart that the app failed leaves the sandbox running, with the app's files as they are.
		const problem = mode === 'restart' ? await restartFailure(sandbox, secrets, error, message) : null;
		if (problem) return { outcome: { kind: 'app-failed-restart', problem }, containerUp };
		console.error(`[coordinator] ${sandbox.id} failed to start`, error);
		return { outcome: { kind: 'failed', error: { message, retryable, log: await evidence(sandbox, secrets, error) } }, containerUp };
	}
}

/** Thrown at the boot's next step once it is no longer wanted. */
class Superseded extends Error {
	constructor() {
		super('superseded');
	}
}

/** What the app's process gets in its environment besides PORT and SANDBOX_ID. */
function appEnv({ api }: Template, apiToken: string | undefined): Record<string, string> {
	return api && apiToken ? { [api.tokenEnv]: apiToken } : {};
}

/** For a boot that failed because of the app (it exited, never answered, or answered only inside): its last lines. */
async function evidence(sandbox: Sandbox, secrets: string[], error: unknown) {
	const appsFault = ['PROCESS_EXITED_BEFORE_READY', 'PROCESS_READY_TIMEOUT', 'LOOPBACK_ONLY'];
	if (!(error instanceof SandboxError) || !appsFault.includes(error.code)) return undefined;
	return lastLines(sandbox, secrets);
}
