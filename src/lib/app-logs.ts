/**
 * The app's logs as the page shows them: what its process writes to stdout and stderr, line by
 * line, cleaned (no terminal escapes, no secrets) and bounded. They reach the page with the page
 * itself (the last lines) and, with JavaScript, as a stream of parts, one JSON object per line.
 * Shared by server and client.
 */

export interface LogLine {
	stream: 'stdout' | 'stderr';
	text: string;
}

/** The most lines the page keeps (the oldest go first). */
export const MAX_LOG_LINES = 300;

/** One line of the log stream. */
export type LogPart =
	/** Lines as they were written (the first part holds everything written before the stream began). */
	| { type: 'lines'; lines: LogLine[] }
	/** The app's process ended. */
	| { type: 'exit'; exitCode: number | null }
	/** The stream ends (the sandbox stopped, or it broke off): why. */
	| { type: 'end'; message: string };

/** The lines with more appended, the oldest dropped past MAX_LOG_LINES. */
export function appendLines(lines: LogLine[], more: LogLine[]): LogLine[] {
	const all = lines.concat(more);
	return all.length > MAX_LOG_LINES ? all.slice(all.length - MAX_LOG_LINES) : all;
}
