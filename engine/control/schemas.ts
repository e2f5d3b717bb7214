/**
 * The request bodies and queries the SDK's clients send (0.12.10), checked before anything runs.
 * A request that does not fit is a 400 VALIDATION_FAILED naming the offending fields. Unknown
 * fields are ignored (the SDK sends a few the real server does not use either: `origin`,
 * `encoding` and `autoCleanup` on process starts).
 */
import * as v from 'valibot';
import { ErrorCode, ProtocolError } from './errors.ts';
import { ENV_NAME } from './shell-session.ts';

const text = v.string();
const sessionId = v.optional(v.string());
/** Node's timers take at most 2^31 - 1 ms (a longer delay fires at once). */
const milliseconds = v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(2 ** 31 - 1));
/** A non-empty path; NUL bytes and overlong paths are refused later, with the real server's messages. */
const path = v.string();
/** Variables for one call. The SDK drops `undefined` values before sending; a `null` is dropped here. */
const env = v.pipe(
	v.record(v.pipe(v.string(), v.regex(ENV_NAME, 'Invalid environment variable name')), v.nullable(v.string())),
	v.transform((entries) => Object.fromEntries(Object.entries(entries).filter((entry): entry is [string, string] => entry[1] !== null)))
);
const origin = v.optional(v.picklist(['user', 'internal']));

export const SessionCreateBody = v.optional(
	v.object({
		id: v.optional(v.string()),
		env: v.optional(env),
		cwd: v.optional(v.string()),
		commandTimeoutMs: v.optional(milliseconds)
	}),
	{}
);

export const SessionDeleteBody = v.object({ sessionId: v.pipe(v.string(), v.minLength(1, 'sessionId is required')) });

export const ExecuteBody = v.object({
	command: text,
	sessionId,
	background: v.optional(v.boolean()),
	timeoutMs: v.optional(milliseconds),
	env: v.optional(env),
	cwd: v.optional(v.string()),
	origin
});

export const StartProcessBody = v.object({
	command: text,
	sessionId,
	processId: v.optional(v.pipe(v.string(), v.minLength(1))),
	timeoutMs: v.optional(milliseconds),
	env: v.optional(env),
	cwd: v.optional(v.string()),
	encoding: v.optional(v.string()),
	autoCleanup: v.optional(v.boolean()),
	origin
});

export const ProcessListQuery = v.object({
	status: v.optional(v.picklist(['starting', 'running', 'completed', 'failed', 'killed', 'error']))
});

export const ReadBody = v.object({ path, encoding: v.optional(v.string()), sessionId });
export const WriteBody = v.object({ path, content: v.string(), encoding: v.optional(v.string()), sessionId });
export const PathBody = v.object({ path, sessionId });
export const MkdirBody = v.object({ path, recursive: v.optional(v.boolean()), sessionId });
export const RenameBody = v.object({ oldPath: path, newPath: path, sessionId });
export const MoveBody = v.object({ sourcePath: path, destinationPath: path, sessionId });
export const ListFilesBody = v.object({
	path,
	options: v.optional(v.object({ recursive: v.optional(v.boolean()), includeHidden: v.optional(v.boolean()) })),
	sessionId
});

export const PortWatchBody = v.object({
	port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
	mode: v.optional(v.picklist(['http', 'tcp'])),
	path: v.optional(v.string()),
	statusMin: v.optional(v.pipe(v.number(), v.integer())),
	statusMax: v.optional(v.pipe(v.number(), v.integer())),
	processId: v.optional(v.string()),
	interval: v.optional(v.pipe(v.number(), v.finite()))
});

/** A terminal's size; the real server refuses zero or less, and nothing sane needs more. */
const cells = (most: number) => v.pipe(v.number(), v.integer(), v.minValue(1, 'Invalid dimensions: cols and rows must be positive'), v.maxValue(most));

/** `/ws/pty`'s query (strings, as the SDK's proxyTerminal() puts them there). */
export const PtyQuery = v.object({
	sessionId: v.pipe(v.optional(v.string(), ''), v.minLength(1, 'sessionId query parameter required')),
	cols: v.optional(v.pipe(v.string(), v.toNumber(), cells(1000)), '80'),
	rows: v.optional(v.pipe(v.string(), v.toNumber(), cells(1000)), '24'),
	/** Part of a command line: an absolute path of plain characters only. */
	shell: v.optional(v.pipe(v.string(), v.regex(/^\/[\w./-]+$/, 'shell must be an absolute path')), '/bin/bash')
});

/** The one control message a terminal socket's client sends as text. */
export const PtyControl = v.object({ type: v.literal('resize'), cols: cells(1000), rows: cells(1000) });

/** Checks `input` against `schema`; a mismatch is the protocol's 400. */
export function parse<const Schema extends v.GenericSchema>(schema: Schema, input: unknown): v.InferOutput<Schema> {
	const result = v.safeParse(schema, input);
	if (result.success) return result.output;
	const validationErrors = result.issues.map((issue) => {
		const field = v.getDotPath(issue) ?? 'body';
		// A missing field reads better as such than as valibot's "Invalid key" report.
		const missing = issue.type === 'object' && issue.received === 'undefined' && field !== 'body';
		return { field, message: missing ? `${field} is required` : issue.message, code: missing ? 'MISSING_FIELD' : 'INVALID_FIELD' };
	});
	const first = validationErrors[0];
	const message = first.field === 'body' || first.message.startsWith(first.field) ? first.message : `${first.field}: ${first.message}`;
	throw new ProtocolError(ErrorCode.VALIDATION_FAILED, message, { validationErrors });
}
