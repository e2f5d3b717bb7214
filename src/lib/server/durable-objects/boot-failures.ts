/**
 * What a failed boot (boot.ts) tells the visitor, and the failures the app itself is to blame for:
 * the page shows the message, and app-problems.ts the evidence. Every failure may be retried with a
 * fresh sandbox.
 */
import { SandboxError } from '../sandbox/types';

/** An app that did not answer its ready path with a 2xx or 3xx in time; `answered`: what it answered instead, if anything. */
export class NotReady extends SandboxError {
	readonly answered: number | null;

	constructor(message: string, answered: number | null, cause: unknown) {
		super('PROCESS_READY_TIMEOUT', message, { retryable: true, cause });
		this.answered = answered;
	}
}

/** For an app that listens at `where` (`127.0.0.1:3001`), all of them loopback addresses. */
export function loopbackOnlyMessage(where: string): string {
	return `The app listens on ${where} only, which nothing outside the sandbox can reach (previews included). Make it listen on 0.0.0.0, every address.`;
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
	if (code === 'LOOPBACK_ONLY') return { message: loopbackOnlyMessage((error as SandboxError).message), retryable: true };
	if (code === 'PORT_UNREACHABLE') {
		return { message: 'The app answered inside the sandbox, but not at the address previews arrive at.', retryable: true };
	}
	if (code === 'PROCESS_EXITED_BEFORE_READY') {
		const exitCode = /exited with code (-?\d+)/i.exec((error as SandboxError).message)?.[1];
		return { message: `The app exited${exitCode === undefined ? '' : ` with code ${exitCode}`} before it was ready.`, retryable: true };
	}
	if (error instanceof NotReady) return { message: error.message, retryable: true };
	return { message: 'The sandbox could not be started.', retryable: true };
}
