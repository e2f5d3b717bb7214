/**
 * Background processes: start, list, get, kill, logs and the live log stream, and the port watch
 * behind `Process.waitForPort`.
 */
import { now } from '../errors.ts';
import type { Router } from '../http.ts';
import { watchPort } from '../port-watch.ts';
import { ProcessListQuery, PortWatchBody, StartProcessBody, parse } from '../schemas.ts';
import { EventStream } from '../sse.ts';
import { startProcess } from './commands.ts';
import type { Services } from './services.ts';

export function registerProcessRoutes(router: Router, services: Services) {
	const { processes } = services;

	router.add('POST', '/api/process/start', async ({ body }) => {
		const request = parse(StartProcessBody, await body());
		const tracked = await startProcess(services, request.command, {
			sessionId: request.sessionId,
			processId: request.processId,
			cwd: request.cwd,
			env: request.env,
			timeoutMs: request.timeoutMs
		});
		return { success: true, processId: tracked.id, pid: tracked.pid, command: tracked.command, timestamp: now() };
	});

	// Fixed paths first: `list` and `kill-all` would otherwise be taken for process IDs.
	router.add('GET', '/api/process/list', ({ url }) => {
		const { status } = parse(ProcessListQuery, Object.fromEntries(url.searchParams));
		return {
			success: true,
			processes: processes.list(status).map((tracked) => {
				const { id, pid, command, status, startTime, exitCode } = tracked.info();
				return { id, pid, command, status, startTime, exitCode };
			}),
			timestamp: now()
		};
	});

	router.add('DELETE', '/api/process/kill-all', async () => {
		return { success: true, cleanedCount: await processes.killAll(), timestamp: now() };
	});

	router.add('GET', '/api/process/{id}', async ({ params }) => {
		const tracked = await processes.get(params.id);
		return { success: true, process: tracked.info(), timestamp: now() };
	});

	router.add('DELETE', '/api/process/{id}', async ({ params }) => {
		await processes.kill(params.id);
		return { success: true, processId: params.id, timestamp: now() };
	});

	router.add('GET', '/api/process/{id}/logs', async ({ params }) => {
		const tracked = await processes.get(params.id);
		return { success: true, processId: params.id, stdout: tracked.stdout.toString(), stderr: tracked.stderr.toString(), timestamp: now() };
	});

	// What the process has written so far, then its output as it comes, then `exit`.
	router.add('GET', '/api/process/{id}/stream', async ({ params, res }) => {
		const tracked = await processes.get(params.id);
		const events = new EventStream(res);
		const base = { processId: tracked.id };
		events.send({ type: 'process_info', ...base, command: tracked.command, status: tracked.status, timestamp: now() });
		for (const stream of ['stdout', 'stderr'] as const) {
			const buffered = tracked[stream].toString();
			if (buffered) events.send({ type: stream, data: buffered, ...base, timestamp: now() });
		}
		const exit = () => {
			events.send({ type: 'exit', ...base, exitCode: tracked.exitCode, data: `Process ${tracked.status} with exit code ${tracked.exitCode}`, timestamp: now() });
			events.end();
		};
		if (tracked.isFinished) return exit();
		const unsubscribe = tracked.subscribe((event) => {
			if (event.type === 'exit') exit();
			else events.send({ type: event.type, data: event.data, ...base, timestamp: now() }, { droppable: true });
		});
		events.onClose(unsubscribe);
	});

	router.add('POST', '/api/port-watch', async ({ res, body }) => {
		const request = parse(PortWatchBody, await body());
		await watchPort(
			{
				port: request.port,
				mode: request.mode ?? 'http',
				path: request.path ?? '/',
				statusMin: request.statusMin ?? 200,
				statusMax: request.statusMax ?? 399,
				processId: request.processId,
				intervalMs: request.interval ?? 500
			},
			processes,
			new EventStream(res)
		);
	});
}
