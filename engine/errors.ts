/**
 * Errors the engine answers with: a stable code, a message for people, and
 * the HTTP status that fits. The codes are the engine's side of the container
 * API's contract: workerd/engine-container.ts acts on CAPACITY_EXCEEDED, and
 * hands the rest on with their messages.
 */
import * as v from 'valibot';

const STATUS = {
	// The request itself: it never reached a container.
	UNAUTHORIZED: 401,
	HOST_NOT_ALLOWED: 403,
	NOT_FOUND: 404,
	METHOD_NOT_ALLOWED: 405,
	CONFLICT: 409,
	BODY_TOO_LARGE: 413,
	INVALID_REQUEST: 400,
	// What became of a container.
	SANDBOX_STOPPED: 409,
	CAPACITY_EXCEEDED: 503,
	SANDBOX_START_FAILED: 500,
	INTERNAL: 500
} as const;

export type RuntimeErrorCode = keyof typeof STATUS;

export class RuntimeError extends Error {
	readonly code: RuntimeErrorCode;
	readonly status: number;
	readonly retryable: boolean;

	constructor(code: RuntimeErrorCode, message: string, options: { retryable?: boolean } = {}) {
		super(message);
		this.code = code;
		this.status = STATUS[code];
		this.retryable = options.retryable ?? false;
	}

	toJSON() {
		return { error: { code: this.code, message: this.message, retryable: this.retryable } };
	}
}

/** Validates part of a request; what fails is answered as INVALID_REQUEST, saying what and why. */
export function parseRequest<const S extends v.GenericSchema>(schema: S, input: unknown, what = 'request'): v.InferOutput<S> {
	const result = v.safeParse(schema, input);
	if (result.success) return result.output;
	const issues = result.issues.map((issue) => [v.getDotPath(issue), issue.message].filter(Boolean).join(': '));
	throw new RuntimeError('INVALID_REQUEST', `Invalid ${what}: ${issues.join('; ')}`);
}
