/**
 * The API console's server side (see $lib/api-console.ts): which requests the console may send, and
 * the relay that makes one inside the sandbox and streams back what happens, as parts. The relay
 * runs in the sandbox's coordinator, the one place that holds the sandbox's token.
 */
import { createParser } from 'eventsource-parser';
import * as v from 'valibot';
import { carriesBody, CONSOLE_METHODS, type ApiCall, type ConsolePart } from '../api-console';
import { jsonLine } from '../json-lines';
import { SandboxError, type Sandbox } from './sandbox/types';

/** How long an answer may take, stream included: past it, the console stops listening. */
export const CONSOLE_DEADLINE_MS = 10_000;
/** The most of an answer the console shows (the body's text, or its events' data). */
export const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_EVENTS = 500;
const MAX_REQUEST_BODY_BYTES = 64 * 1024;

export const ApiCallSchema = v.pipe(
	v.object({
		method: v.picklist(CONSOLE_METHODS, `The method is one of ${CONSOLE_METHODS.join(', ')}.`),
		path: v.pipe(
			v.string('Give a path, like /api/notes.'),
			v.trim(),
			v.maxLength(2000, 'That path is too long.'),
			// One leading slash: `//host/…` would name another host. No spaces or control characters.
			v.regex(/^\/(?!\/)[\x21-\x7e]*$/, 'The path starts with a single / and has no spaces, like /api/notes?limit=5.')
		),
		body: v.pipe(
			v.optional(v.string(), ''),
			v.check((body) => new TextEncoder().encode(body).byteLength <= MAX_REQUEST_BODY_BYTES, `The body may be up to ${MAX_REQUEST_BODY_BYTES / 1024} KiB.`)
		),
		authorize: v.boolean()
	}),
	v.transform((call): ApiCall => ({ ...call, body: carriesBody(call.method) ? call.body.trim() : '' })),
	v.check((call) => call.body === '' || isJson(call.body), 'The body must be JSON, like { "text": "hello" }.')
);

function isJson(text: string): boolean {
	try {
		JSON.parse(text);
		return true;
	} catch {
		return false;
	}
}

/**
 * The console's form, as a page without JavaScript posts it: what was typed (shown again with the
 * answer) and the call it makes. The token is sent only while its box is ticked.
 */
export function callFromForm(form: FormData) {
	const text = (name: string) => {
		const value = form.get(name);
		return typeof value === 'string' ? value : '';
	};
	const typed = { method: text('method'), path: text('path'), body: text('body'), authorize: form.get('authorize') === 'on' };
	return { typed, call: v.safeParse(ApiCallSchema, typed) };
}

export interface RelayOptions {
	sandbox: Sandbox;
	port: number;
	/** The sandbox's bearer token, sent if the call asks for it. */
	token: string | undefined;
	call: ApiCall;
	deadlineMs?: number;
}

/**
 * Makes the call inside the sandbox and streams its answer as parts, one JSON object per line:
 * the response's head, then its body as text or, for `text/event-stream`, its events one by one,
 * then how it ended. Every outcome ends with an `end` part; nothing here throws.
 */
export function relayCall({ sandbox, port, token, call, deadlineMs = CONSOLE_DEADLINE_MS }: RelayOptions): ReadableStream<Uint8Array> {
	const startedAt = Date.now();
	const atMs = () => Date.now() - startedAt;
	let stopReading: (() => void) | null = null;
	return new ReadableStream({
		async start(controller) {
			const send = (part: ConsolePart) => controller.enqueue(jsonLine(part));
			let timer: ReturnType<typeof setTimeout> | undefined;
			const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)));
			const stopped = new Promise<'stopped'>((resolve) => (stopReading = () => resolve('stopped')));
			try {
				const outcome = await relay(send, atMs, { sandbox, port, token, call, deadlineMs }, Promise.race([deadline, stopped]));
				send({ type: 'end', ...outcome, atMs: atMs() });
			} finally {
				clearTimeout(timer);
				controller.close();
			}
		},
		// The browser went away: stop reading the app's answer.
		cancel() {
			stopReading?.();
		}
	});
}

type Ending = Pick<Extract<ConsolePart, { type: 'end' }>, 'outcome' | 'message'>;

async function relay(
	send: (part: ConsolePart) => void,
	atMs: () => number,
	{ sandbox, port, token, call, deadlineMs }: Required<RelayOptions>,
	cutOff: Promise<'deadline' | 'stopped'>
): Promise<Ending> {
	const headers = new Headers({ accept: 'application/json, text/event-stream;q=0.9, */*;q=0.8' });
	if (call.authorize && token) headers.set('authorization', `Bearer ${token}`);
	if (call.body) headers.set('content-type', 'application/json');
	// A redirect is shown as the app answered it, never followed (it could name any address).
	const request = new Request(`http://localhost${call.path}`, { method: call.method, headers, body: call.body || undefined, redirect: 'manual' });

	const answered = sandbox.containerFetch(request, port);
	const first = await Promise.race([answered, cutOff]).catch((error: unknown) => error);
	if (first === 'deadline' || first === 'stopped') {
		answered.then((response) => response.body?.cancel(), () => {});
		return { outcome: 'deadline', message: `The app did not answer within ${seconds(deadlineMs)}.` };
	}
	if (!(first instanceof Response)) return unreachable(first, port);
	const response = first;
	send({ type: 'response', status: response.status, statusText: response.statusText, headers: [...response.headers], atMs: atMs() });
	if (!response.body) return { outcome: 'complete', message: 'The answer has no body.' };

	const isEventStream = response.headers.get('content-type')?.split(';')[0].trim().toLowerCase() === 'text/event-stream';
	let bytes = 0;
	let events = 0;
	let overflow = false;
	const parser = createParser({
		onEvent({ event, id, data }) {
			if (++events > MAX_EVENTS) overflow = true;
			else send({ type: 'event', event: event ?? 'message', id: id ?? null, data, atMs: atMs() });
		}
	});
	const decoder = new TextDecoder();
	const reader = response.body.getReader();
	try {
		for (;;) {
			const next = await Promise.race([reader.read(), cutOff]);
			if (next === 'deadline' || next === 'stopped') {
				const unit = isEventStream ? `${events} event${events === 1 ? '' : 's'}` : `${bytes} bytes`;
				return {
					outcome: 'deadline',
					message: `The answer was still streaming after ${seconds(deadlineMs)} (${unit} so far): the console stopped listening.`
				};
			}
			if (next.done) break;
			bytes += next.value.byteLength;
			const text = decoder.decode(next.value, { stream: true });
			if (isEventStream) parser.feed(text);
			else send({ type: 'text', text });
			if (bytes > MAX_ANSWER_BYTES || overflow) {
				return { outcome: 'too-large', message: `The answer is larger than the console shows (${MAX_ANSWER_BYTES / 1024} KiB or ${MAX_EVENTS} events): the rest was not read.` };
			}
		}
	} catch (error) {
		console.warn('[api-console] the answer broke off', error);
		const got = isEventStream ? `${events} event${events === 1 ? '' : 's'}` : `${bytes} bytes`;
		return { outcome: 'cut', message: `The connection to the app broke after ${got}, before the answer ended.` };
	} finally {
		reader.cancel().catch(() => {});
	}
	if (!isEventStream) {
		const rest = decoder.decode();
		if (rest) send({ type: 'text', text: rest });
	}
	return {
		outcome: 'complete',
		message: isEventStream ? `The app ended the stream after ${events} event${events === 1 ? '' : 's'}.` : `${bytes} bytes.`
	};
}

function unreachable(error: unknown, port: number): Ending {
	if (error instanceof SandboxError && error.code === 'PORT_UNREACHABLE') {
		return { outcome: 'unreachable', message: `Nothing answers on port ${port} in the sandbox: the app may have stopped, or listen on 127.0.0.1 only.` };
	}
	console.warn('[api-console] the request failed', error);
	return { outcome: 'unreachable', message: 'The sandbox did not take the request. Try again in a moment.' };
}

function seconds(ms: number) {
	return `${ms / 1000} s`;
}
