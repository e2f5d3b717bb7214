/**
 * `/api/port-watch`, behind the SDK's `Process.waitForPort`: polls a port until it answers (an HTTP
 * status in range, or a TCP connection), streaming `watching`, then `ready` — or
 * `process_exited` as soon as the watched process has ended. The SDK enforces the timeout itself
 * by cancelling the stream, which ends the polling here.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { ProcessTable } from './processes.ts';
import type { EventStream } from './sse.ts';

/** Each probe gives up after this long, so a port that accepts but never answers cannot stall the watch. */
const PROBE_TIMEOUT_MS = 5000;

export interface PortWatch {
	port: number;
	mode: 'http' | 'tcp';
	path: string;
	statusMin: number;
	statusMax: number;
	processId: string | undefined;
	intervalMs: number;
}

export async function watchPort(watch: PortWatch, processes: ProcessTable, events: EventStream): Promise<void> {
	// Polling stays between 100 ms and 10 s, whatever the caller asks.
	const interval = Math.max(100, Math.min(watch.intervalMs, 10_000));
	events.send({ type: 'watching', port: watch.port });
	try {
		while (!events.isClosed) {
			if (watch.processId !== undefined) {
				const tracked = await processes.get(watch.processId).catch(() => undefined);
				if (!tracked) {
					events.send({ type: 'error', port: watch.port, error: 'Process not found' });
					break;
				}
				if (tracked.isFinished) {
					events.send({ type: 'process_exited', port: watch.port, exitCode: tracked.exitCode });
					break;
				}
			}
			const probe = watch.mode === 'tcp' ? await probeTcp(watch.port) : await probeHttp(watch);
			if (probe.ready) {
				events.send({ type: 'ready', port: watch.port, statusCode: probe.statusCode });
				break;
			}
			await new Promise((resolve) => setTimeout(resolve, interval));
		}
	} catch (error) {
		events.send({ type: 'error', port: watch.port, error: error instanceof Error ? error.message : 'Unknown error' });
	}
	events.end();
}

interface Probe {
	ready: boolean;
	statusCode?: number;
}

/**
 * `localhost`, as the real server asks: with Node's default happy-eyeballs connection (autoSelectFamily),
 * an app listening on the IPv4 or the IPv6 loopback both count.
 */
function probeTcp(port: number): Promise<Probe> {
	return new Promise((resolve) => {
		const socket = connect({ host: 'localhost', port, timeout: PROBE_TIMEOUT_MS });
		socket.once('connect', () => {
			socket.destroy();
			resolve({ ready: true });
		});
		socket.once('timeout', () => {
			socket.destroy();
			resolve({ ready: false });
		});
		socket.once('error', () => resolve({ ready: false }));
	});
}

function probeHttp(watch: PortWatch): Promise<Probe> {
	const path = watch.path.startsWith('/') ? watch.path : `/${watch.path}`;
	return new Promise((resolve) => {
		const req = request({ host: 'localhost', port: watch.port, path, method: 'GET', agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
			const statusCode = res.statusCode ?? 0;
			res.destroy();
			resolve({ ready: statusCode >= watch.statusMin && statusCode <= watch.statusMax, statusCode });
		});
		req.once('timeout', () => req.destroy());
		req.once('error', () => resolve({ ready: false }));
		req.end();
	});
}
