/**
 * The SDK's errors as the app can act on them (`SandboxError` codes). Apart from the SDK adapter
 * (cloudflare.ts) so that it can be tested in Node, which cannot load the SDK.
 */
import { SandboxError, type SandboxErrorCode } from './types';

/**
 * Errors lose their class and custom properties on their way back over the
 * Durable Object RPC boundary: only the message is reliable, so match on it.
 */
const ERROR_MESSAGES: [RegExp, SandboxErrorCode, boolean][] = [
	[/maximum number of running container instances|no container instance|max_instances/i, 'CAPACITY_EXCEEDED', true],
	[/container.*(unavailable|not (yet )?ready|is starting)|ContainerUnavailable|network connection lost/i, 'BACKEND_UNAVAILABLE', true],
	// The SDK's words: "Process exited with code N before becoming ready…".
	[/exited (with code -?\d+ )?before|ProcessExitedBeforeReady/i, 'PROCESS_EXITED_BEFORE_READY', false],
	[/command timeout after/i, 'EXEC_TIMEOUT', false],
	[/not ready within|did not become ready|ProcessReadyTimeout/i, 'PROCESS_READY_TIMEOUT', false],
	[/(file|directory) not found|no such file|ENOENT/i, 'FILE_NOT_FOUND', false],
	[/already in use by port/i, 'TOKEN_IN_USE', false]
];

export function translateError(error: unknown): SandboxError {
	if (error instanceof SandboxError) return error;
	const message = String((error as Error)?.message ?? error);
	const name = String((error as Error)?.name ?? '');
	for (const [pattern, code, retryable] of ERROR_MESSAGES) {
		if (pattern.test(message) || pattern.test(name)) return new SandboxError(code, message, { retryable, cause: error });
	}
	return new SandboxError('INTERNAL', message, { cause: error });
}
