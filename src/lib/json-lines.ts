/**
 * Streams of JSON values, one per line (NDJSON): how the app's server streams the API console's
 * answer and the app's logs to the page. Shared by server and client.
 */

/** One value as a line. */
export function jsonLine(value: unknown): Uint8Array {
	return new TextEncoder().encode(`${JSON.stringify(value)}\n`);
}

/** Reads a stream of lines, calling `onValue` with each value as its line arrives. */
export async function readJsonLines<T>(body: ReadableStream<Uint8Array>, onValue: (value: T) => void): Promise<void> {
	const reader = body.getReader();
	const decoder = new TextDecoder();
	let pending = '';
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		pending += decoder.decode(value, { stream: true });
		const lines = pending.split('\n');
		pending = lines.pop()!;
		for (const line of lines) if (line) onValue(JSON.parse(line) as T);
	}
}
