/**
 * A process's output cut into lines, as the real server reports it: it reads a process's output
 * file every 100 ms and sends each line as an event of its own, with its newline; a line without one
 * (the last, or one a pause cut short) gets one. Streams and logs both see the lines.
 */

/** How long a line without its newline waits for the rest (the real server's reading interval). */
export const PARTIAL_LINE_WAIT_MS = 100;
/** The longest a line grows before it is sent as it is: output without newlines never piles up here. */
export const MAX_LINE_CHARS = 64 * 1024;

export class LineCutter {
	private partial = '';
	private timer: ReturnType<typeof setTimeout> | undefined;
	private readonly emit: (line: string) => void;

	constructor(emit: (line: string) => void) {
		this.emit = emit;
	}

	write(text: string) {
		clearTimeout(this.timer);
		const lines = (this.partial + text).split('\n');
		this.partial = lines.pop()!;
		for (const line of lines) this.emit(`${line}\n`);
		if (this.partial.length >= MAX_LINE_CHARS) this.flush();
		else if (this.partial !== '') this.timer = setTimeout(() => this.flush(), PARTIAL_LINE_WAIT_MS).unref();
	}

	/** The line under way, if any, with a newline: the output paused, or ended. */
	flush() {
		clearTimeout(this.timer);
		if (this.partial === '') return;
		const line = `${this.partial}\n`;
		this.partial = '';
		this.emit(line);
	}
}
