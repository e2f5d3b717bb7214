/**
 * The protocol's errors. Every failure leaves the server as the JSON body the SDK's clients turn
 * back into typed errors (`createErrorFromResponse` in @cloudflare/sandbox): a machine-readable
 * `code`, a `message`, a `context` object, the `httpStatus` (also the response's status) and a
 * timestamp. The codes and their statuses are the ones @cloudflare/sandbox's shared package
 * defines; only the codes this server can produce are listed.
 */

export const ErrorCode = {
	FILE_NOT_FOUND: 'FILE_NOT_FOUND',
	PERMISSION_DENIED: 'PERMISSION_DENIED',
	IS_DIRECTORY: 'IS_DIRECTORY',
	NOT_DIRECTORY: 'NOT_DIRECTORY',
	FILE_TOO_LARGE: 'FILE_TOO_LARGE',
	NO_SPACE: 'NO_SPACE',
	FILESYSTEM_ERROR: 'FILESYSTEM_ERROR',
	COMMAND_NOT_FOUND: 'COMMAND_NOT_FOUND',
	INVALID_COMMAND: 'INVALID_COMMAND',
	COMMAND_EXECUTION_ERROR: 'COMMAND_EXECUTION_ERROR',
	STREAM_START_ERROR: 'STREAM_START_ERROR',
	PROCESS_NOT_FOUND: 'PROCESS_NOT_FOUND',
	PROCESS_ERROR: 'PROCESS_ERROR',
	SESSION_ALREADY_EXISTS: 'SESSION_ALREADY_EXISTS',
	SESSION_DESTROYED: 'SESSION_DESTROYED',
	SESSION_TERMINATED: 'SESSION_TERMINATED',
	VALIDATION_FAILED: 'VALIDATION_FAILED',
	INVALID_BACKUP_CONFIG: 'INVALID_BACKUP_CONFIG',
	BACKUP_CREATE_FAILED: 'BACKUP_CREATE_FAILED',
	UNKNOWN_ERROR: 'UNKNOWN_ERROR',
	INTERNAL_ERROR: 'INTERNAL_ERROR'
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The status each code is answered with, as the SDK's status map has it. */
const HTTP_STATUS: Record<ErrorCode, number> = {
	FILE_NOT_FOUND: 404,
	COMMAND_NOT_FOUND: 404,
	PROCESS_NOT_FOUND: 404,
	IS_DIRECTORY: 400,
	NOT_DIRECTORY: 400,
	INVALID_COMMAND: 400,
	VALIDATION_FAILED: 400,
	INVALID_BACKUP_CONFIG: 400,
	PERMISSION_DENIED: 403,
	SESSION_ALREADY_EXISTS: 409,
	SESSION_DESTROYED: 410,
	SESSION_TERMINATED: 410,
	FILE_TOO_LARGE: 413,
	NO_SPACE: 500,
	FILESYSTEM_ERROR: 500,
	COMMAND_EXECUTION_ERROR: 500,
	STREAM_START_ERROR: 500,
	PROCESS_ERROR: 500,
	BACKUP_CREATE_FAILED: 500,
	UNKNOWN_ERROR: 500,
	INTERNAL_ERROR: 500
};

/** The operation names the SDK attaches to file errors (`context.operation`). */
export const Operation = {
	FILE_READ: 'file.read',
	FILE_WRITE: 'file.write',
	FILE_DELETE: 'file.delete',
	FILE_MOVE: 'file.move',
	FILE_RENAME: 'file.rename',
	FILE_STAT: 'file.stat',
	DIRECTORY_CREATE: 'directory.create',
	DIRECTORY_LIST: 'directory.list',
	BACKUP_CREATE: 'backup.create'
} as const;

export interface ErrorBody {
	code: ErrorCode;
	message: string;
	context: Record<string, unknown>;
	httpStatus: number;
	timestamp: string;
	operation?: string;
}

/** A failure that is part of the protocol: thrown anywhere, answered by the HTTP layer. */
export class ProtocolError extends Error {
	readonly code: ErrorCode;
	readonly context: Record<string, unknown>;
	/** An explicit status, for the few answers whose status is not the code's (the 404 of an unknown route). */
	readonly status: number | undefined;

	constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}, status?: number) {
		super(message);
		this.name = 'ProtocolError';
		this.code = code;
		this.context = context;
		this.status = status;
	}

	toBody(): ErrorBody {
		const httpStatus = this.status ?? HTTP_STATUS[this.code];
		const body: ErrorBody = { code: this.code, message: this.message, context: this.context, httpStatus, timestamp: now() };
		if (typeof this.context.operation === 'string') body.operation = this.context.operation;
		return body;
	}
}

/** Anything thrown that is not a ProtocolError is a bug or an unexpected system failure: a 500. */
export function toProtocolError(error: unknown): ProtocolError {
	if (error instanceof ProtocolError) return error;
	const cause = error instanceof Error ? error : new Error(String(error));
	return new ProtocolError(ErrorCode.INTERNAL_ERROR, cause.message, { stack: cause.stack });
}

export function now(): string {
	return new Date().toISOString();
}

export function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}
