/**
 * Bounded text buffers, so that no command or process can grow the server's memory without limit.
 */
import { StringDecoder } from 'node:string_decoder';

/** What one exec may return per stream (stdout, stderr): the beginning of its output. */
export const EXEC_OUTPUT_LIMIT = 8 * 1024 * 1024;
/** What a background process keeps per stream: the end of its output. */
export const PROCESS_LOG_LIMIT = 1024 * 1024;

/** Keeps the first `limit` characters of a stream: an exec's result starts where its output starts. */
export class HeadBuffer {
	private text = '';
	private readonly limit: number;
	private readonly decoder = new StringDecoder('utf8');

	constructor(limit: number) {
		this.limit = limit;
	}

	append(chunk: Buffer | string) {
		if (this.text.length >= this.limit) return;
		const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
		this.text += text.slice(0, this.limit - this.text.length);
	}

	toString() {
		return this.text;
	}
}

/** Keeps the last `limit` characters of a stream: a long-running process's recent logs are the useful ones. */
export class TailBuffer {
	private text = '';
	private readonly limit: number;

	constructor(limit: number) {
		this.limit = limit;
	}

	append(chunk: string) {
		this.text += chunk;
		if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
	}

	toString() {
		return this.text;
	}
}
