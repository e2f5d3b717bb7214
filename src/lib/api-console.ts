/**
 * The API console: the owner of a sandbox whose template has an API (its manifest's `api`) sends it
 * requests from the page, and the app's server makes them, with the sandbox's bearer token, which
 * never reaches the browser. The answer comes back as a stream of parts, one JSON object per line,
 * so that Server-Sent Events show as they arrive; without JavaScript, the server gathers the same
 * parts into one result. Shared by server and client: types and pure functions only.
 */

export const CONSOLE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** A request the console sends into the sandbox. */
export interface ApiCall {
	method: (typeof CONSOLE_METHODS)[number];
	/** A path on the app's server, with its query: `/api/notes?limit=5`. */
	path: string;
	/** JSON, for methods that carry a body; empty for none. */
	body: string;
	/** Whether to send the sandbox's bearer token (without it, an API behind the token refuses the call). */
	authorize: boolean;
}

export interface ServerSentEvent {
	event: string;
	id: string | null;
	data: string;
	/** Milliseconds from the request to this event's arrival at the app's server. */
	atMs: number;
}

/** How the exchange ended. */
export type ConsoleOutcome =
	/** The app answered, and its body or stream ended. */
	| 'complete'
	/** The stream was still open at the console's deadline: the app's server stopped listening. */
	| 'deadline'
	/** The connection broke before the app ended its answer. */
	| 'cut'
	/** The answer grew past what the console shows: the rest was not read. */
	| 'too-large'
	/** No answer at all: nothing listens on the app's port, or the sandbox is gone. */
	| 'unreachable';

/** One line of the console's stream, in this order: `response` (unless unreachable), `text` or `event` parts, then `end`. */
export type ConsolePart =
	| { type: 'response'; status: number; statusText: string; headers: [string, string][]; atMs: number }
	| { type: 'text'; text: string }
	| ({ type: 'event' } & ServerSentEvent)
	| { type: 'end'; outcome: ConsoleOutcome; message: string; atMs: number };

/** Everything the console shows of one exchange. */
export interface ConsoleResult {
	call: ApiCall;
	response: { status: number; statusText: string; headers: [string, string][]; atMs: number } | null;
	/** The body as text (empty for an event stream, whose events are in `events`). */
	body: string;
	events: ServerSentEvent[];
	end: { outcome: ConsoleOutcome; message: string; atMs: number } | null;
}

export function emptyResult(call: ApiCall): ConsoleResult {
	return { call, response: null, body: '', events: [], end: null };
}

/** The result with one more part applied (a new object: the parts arrive one at a time into a store). */
export function withPart(result: ConsoleResult, part: ConsolePart): ConsoleResult {
	switch (part.type) {
		case 'response': {
			const { status, statusText, headers, atMs } = part;
			return { ...result, response: { status, statusText, headers, atMs } };
		}
		case 'text':
			return { ...result, body: result.body + part.text };
		case 'event': {
			const { event, id, data, atMs } = part;
			return { ...result, events: [...result.events, { event, id, data, atMs }] };
		}
		case 'end': {
			const { outcome, message, atMs } = part;
			return { ...result, end: { outcome, message, atMs } };
		}
	}
}

/** Whether the method sends the request's body. */
export function carriesBody(method: ApiCall['method']): boolean {
	return method === 'POST' || method === 'PUT' || method === 'PATCH';
}
