/**
 * The app process's logs, from the sandbox to the page (see $lib/app-logs.ts): read whole (the
 * last lines, for a page load and for a failed boot's evidence) or followed as they come. Text
 * from a sandbox is hostile: terminal escapes are stripped, overlong lines cut, and the secrets
 * the app was given (its API token) replaced before any line leaves the coordinator.
 */
import { createParser } from 'eventsource-parser';
import { appendLines, MAX_LOG_LINES, type LogLine, type LogPart } from '../app-logs';
import { jsonLine } from '../json-lines';
import { APP_PROCESS_ID } from './durable-objects/boot';
import type { Sandbox } from './sandbox/types';

const MAX_LINE_CHARS = 2_000;
export const REDACTED = '[redacted]';

/** CSI and OSC sequences (colours, cursor moves, titles, links), then any other control character but tab. */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]/g;
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** Splits what a stream writes into clean lines, holding back an unfinished last line. */
export class LineCleaner {
	private readonly pending = { stdout: '', stderr: '' };
	private readonly secrets: string[];

	constructor(secrets: string[]) {
		this.secrets = secrets.filter(Boolean);
	}

	/** The complete lines in `text` (after what came before on that stream). */
	feed(stream: LogLine['stream'], text: string): LogLine[] {
		const parts = (this.pending[stream] + text).split(/\r?\n/);
		this.pending[stream] = parts.pop()!;
		return parts.map((line) => ({ stream, text: this.clean(line) }));
	}

	/** Whatever unfinished lines are left, as lines. */
	flush(): LogLine[] {
		const lines = (['stdout', 'stderr'] as const).filter((stream) => this.pending[stream]).map((stream) => ({ stream, text: this.clean(this.pending[stream]) }));
		this.pending.stdout = this.pending.stderr = '';
		return lines;
	}

	private clean(line: string): string {
		// A carriage return redraws the line (a progress bar): what was drawn last is what shows.
		let text = line.slice(line.lastIndexOf('\r') + 1).replace(ESCAPES, '').replace(CONTROLS, '');
		for (const secret of this.secrets) text = text.replaceAll(secret, REDACTED);
		return text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text;
	}
}

/** The app's last lines (stdout and stderr, each in its order, stdout first), or none if it has no process. */
export async function recentLines(sandbox: Sandbox, secrets: string[]): Promise<LogLine[]> {
	const process = await sandbox.getProcess(APP_PROCESS_ID);
	if (!process) return [];
	const { stdout, stderr } = await process.getLogs();
	const cleaner = new LineCleaner(secrets);
	const lines = [...cleaner.feed('stdout', stdout), ...cleaner.feed('stderr', stderr), ...cleaner.flush()];
	return lines.slice(-MAX_LOG_LINES);
}

/**
 * Follows the app's output as parts: everything written so far, then each write as it comes, then
 * the process's exit, and an `end` part saying why the stream ends. Nothing here throws. A stop
 * (`stopped()` says so) destroys the container under the stream: that break is no failure.
 */
export function followLines(sandbox: Sandbox, secrets: string[], stopped: () => boolean): ReadableStream<Uint8Array> {
	let source: ReadableStreamDefaultReader<Uint8Array> | null = null;
	return new ReadableStream({
		async start(controller) {
			const send = (part: LogPart) => controller.enqueue(jsonLine(part));
			const cleaner = new LineCleaner(secrets);
			let exited = false;
			const parser = createParser({
				onEvent({ data }) {
					const event = JSON.parse(data) as { type: string; data?: string; exitCode?: number };
					if (event.type === 'stdout' || event.type === 'stderr') {
						const lines = cleaner.feed(event.type, event.data ?? '');
						if (lines.length > 0) send({ type: 'lines', lines: appendLines([], lines) });
					} else if (event.type === 'exit') {
						const rest = cleaner.flush();
						if (rest.length > 0) send({ type: 'lines', lines: rest });
						send({ type: 'exit', exitCode: event.exitCode ?? null });
						exited = true;
					}
				}
			});
			try {
				source = (await sandbox.streamProcessLogs(APP_PROCESS_ID)).getReader();
				const decoder = new TextDecoder();
				for (let next = await source.read(); !next.done; next = await source.read()) parser.feed(decoder.decode(next.value, { stream: true }));
				send({ type: 'end', message: exited ? 'The app has exited.' : stopped() ? 'The sandbox has stopped.' : 'The log stream ended.' });
			} catch (error) {
				if (stopped()) return send({ type: 'end', message: 'The sandbox has stopped.' });
				console.warn('[app-logs] following the logs failed', error);
				send({ type: 'end', message: 'The log stream broke off.' });
			} finally {
				controller.close();
			}
		},
		// The page went away: stop following.
		cancel() {
			source?.cancel().catch(() => {});
		}
	});
}
