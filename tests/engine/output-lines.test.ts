import { describe, expect, it } from 'vitest';
import { LineCutter, MAX_LINE_CHARS, PARTIAL_LINE_WAIT_MS } from '../../engine/control/output-lines.ts';

function cutter() {
	const lines: string[] = [];
	return { lines, cut: new LineCutter((line) => lines.push(line)) };
}

describe("a process's output, cut into lines", () => {
	it('comes a line per event, each with its newline, however the chunks fall', () => {
		const { lines, cut } = cutter();
		cut.write('one\ntw');
		cut.write('o\n\nthr');
		expect(lines).toEqual(['one\n', 'two\n', '\n']);
		cut.flush();
		expect(lines.at(-1)).toBe('thr\n');
	});

	it('sends a line cut short by a pause with a newline, as the real server does', async () => {
		const { lines, cut } = cutter();
		cut.write('Password: ');
		expect(lines).toEqual([]);
		await new Promise((resolve) => setTimeout(resolve, PARTIAL_LINE_WAIT_MS + 50));
		expect(lines).toEqual(['Password: \n']);
	});

	it('never holds more than one long line: output without newlines is sent as it grows', () => {
		const { lines, cut } = cutter();
		const chunk = 'x'.repeat(MAX_LINE_CHARS / 4);
		for (let i = 0; i < 8; i++) cut.write(chunk);
		expect(lines).toHaveLength(2);
		expect(lines.every((line) => line.length === MAX_LINE_CHARS + 1)).toBe(true);
		cut.flush();
		expect(lines).toHaveLength(2);
	});
});
