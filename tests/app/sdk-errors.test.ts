/**
 * Errors from @cloudflare/sandbox reach the app after crossing the Durable Object RPC boundary,
 * which keeps only their message: the app tells them apart by the SDK's own words. (The SDK
 * itself is tested in tests/conformance, in workerd.)
 */
import { describe, expect, it } from 'vitest';
import { translateError } from '../../src/lib/server/sandbox/errors.ts';

describe('errors from the SDK', () => {
	it.each([
		['Maximum number of running container instances exceeded', 'CAPACITY_EXCEEDED', true],
		['There is no Container instance that can be provided to this Durable Object', 'CAPACITY_EXCEEDED', true],
		['ContainerUnavailableError: container is starting', 'BACKEND_UNAVAILABLE', true],
		['Process exited with code 1 before becoming ready. Last output: EADDRINUSE', 'PROCESS_EXITED_BEFORE_READY', false],
		["Failed to execute command 'sleep 9' in session 'sandbox-x': Command timeout after 200ms", 'EXEC_TIMEOUT', false],
		['Something else broke', 'INTERNAL', false]
	])('knows "%s" by its message', (message, code, retryable) => {
		expect(translateError(new Error(message))).toMatchObject({ code, retryable, message });
	});
});
