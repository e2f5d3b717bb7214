/**
 * Commands: `/api/execute` (one command, its whole result) and `/api/execute/stream` (the same
 * as events), plus the process start they share with `/api/process/start`.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode, ProtocolError, errorMessage, now } from '../errors.ts';
import type { Router } from '../http.ts';
import type { TrackedProcess } from '../processes.ts';
import { ExecuteBody, parse } from '../schemas.ts';
import { SESSIONLESS_ID } from '../sessionless.ts';
import { EventStream } from '../sse.ts';
import type { Services } from './services.ts';

export function registerCommandRoutes(router: Router, services: Services) {
	router.add('POST', '/api/execute', async ({ req, body }) => {
		const request = parse(ExecuteBody, await body());
		const sessionId = request.sessionId || headerSessionId(req);
		if (request.background) {
			const tracked = await startProcess(services, request.command, { sessionId, cwd: request.cwd, env: request.env, timeoutMs: request.timeoutMs });
			return { success: true, processId: tracked.id, pid: tracked.pid, command: request.command, timestamp: now() };
		}
		// A session this call creates starts in the call's cwd, with its timeout as the session's default (real server).
		const execution = services.executions.resolve(sessionId, { cwd: request.cwd, commandTimeoutMs: request.timeoutMs });
		const result = await execution.exec(request.command, { cwd: request.cwd, env: request.env, timeoutMs: request.timeoutMs });
		return {
			success: result.exitCode === 0,
			exitCode: result.exitCode,
			stdout: result.stdout,
			stderr: result.stderr,
			command: request.command,
			duration: result.duration,
			timestamp: now(),
			sessionId
		};
	});

	// Runs as a process (it shows in the process list, as on the real server), streamed until it ends.
	// Like the real server, it ignores `timeoutMs`.
	router.add('POST', '/api/execute/stream', async ({ req, res, body }) => {
		const request = parse(ExecuteBody, await body());
		const tracked = await startProcess(services, request.command, { sessionId: request.sessionId || headerSessionId(req), cwd: request.cwd, env: request.env });
		const events = new EventStream(res);
		events.send({ type: 'start', command: tracked.command, timestamp: now() });
		for (const stream of ['stdout', 'stderr'] as const) {
			const buffered = tracked[stream].toString();
			if (buffered) events.send({ type: stream, data: buffered, timestamp: now() });
		}
		const complete = () => {
			events.send({ type: 'complete', exitCode: tracked.exitCode, timestamp: now() });
			events.end();
		};
		if (tracked.isFinished) return complete();
		const unsubscribe = tracked.subscribe((event) => {
			if (event.type === 'exit') complete();
			else events.send({ type: event.type, data: event.data, timestamp: now() }, { droppable: true });
		});
		events.onClose(unsubscribe);
	});
}

export interface StartOptions {
	sessionId: string | undefined;
	processId?: string;
	cwd?: string;
	env?: Record<string, string>;
	timeoutMs?: number;
}

/**
 * Starts a background process where its session stands. A timeout applies to sessionless
 * processes only: the real server's session processes ignore it.
 */
export async function startProcess(services: Services, command: string, options: StartOptions): Promise<TrackedProcess> {
	if (command.trim() === '') throw new ProtocolError(ErrorCode.INVALID_COMMAND, 'Invalid command: empty command provided', { command });
	const execution = services.executions.resolve(options.sessionId, { cwd: options.cwd });
	const origin = await execution.processOrigin({ cwd: options.cwd, env: options.env }).catch((error) => {
		if (error instanceof ProtocolError) throw error;
		const message = errorMessage(error);
		throw new ProtocolError(ErrorCode.STREAM_START_ERROR, `Failed to execute streaming command '${command}' in sessionless execution: ${message}`, {
			command,
			stderr: message
		});
	});
	return services.processes.start(command, {
		processId: options.processId,
		origin,
		timeoutMs: execution.sessionId === SESSIONLESS_ID ? options.timeoutMs : undefined
	});
}

/** The real server also accepts the session in a header when the body names none. */
function headerSessionId(req: IncomingMessage): string | undefined {
	const header = req.headers['x-session-id'];
	return typeof header === 'string' && header !== '' ? header : undefined;
}
