/** How the app's output is cut into lines for the page: cleaned, bounded, its secrets redacted. */
import { describe, expect, it } from 'vitest';
import { appendLines, MAX_LOG_LINES } from '../../src/lib/app-logs.ts';
import { LineCleaner, REDACTED } from '../../src/lib/server/app-logs.ts';

describe('LineCleaner', () => {
	it('gives complete lines only, per stream, and the rest when flushed', () => {
		const cleaner = new LineCleaner([]);
		expect(cleaner.feed('stdout', 'one\ntw')).toEqual([{ stream: 'stdout', text: 'one' }]);
		expect(cleaner.feed('stderr', 'oops\r\n')).toEqual([{ stream: 'stderr', text: 'oops' }]);
		expect(cleaner.feed('stdout', 'o\nthree')).toEqual([{ stream: 'stdout', text: 'two' }]);
		expect(cleaner.flush()).toEqual([{ stream: 'stdout', text: 'three' }]);
		expect(cleaner.flush()).toEqual([]);
	});

	it('strips colours, cursor moves, titles and other control characters; a carriage return redraws the line', () => {
		const cleaner = new LineCleaner([]);
		const [line] = cleaner.feed('stdout', '--> GET / \x1b[32m200\x1b[0m 1ms\x1b]0;title\x07\x1b[2K\x07\x00done\n');
		expect(line.text).toBe('--> GET / 200 1msdone');
		expect(cleaner.feed('stdout', 'progress 10%\rprogress 100%\n')[0].text).toBe('progress 100%');
		expect(cleaner.feed('stdout', 'a\tb\n')[0].text).toBe('a\tb');
	});

	it('redacts every secret it was given, wherever it is in a line', () => {
		const secret = 'f'.repeat(64);
		const cleaner = new LineCleaner([secret, '']);
		expect(cleaner.feed('stdout', `token=${secret} and again ${secret}\n`)[0].text).toBe(`token=${REDACTED} and again ${REDACTED}`);
		// A secret split across two writes is still one line, and redacted.
		cleaner.feed('stderr', `half ${secret.slice(0, 30)}`);
		expect(cleaner.feed('stderr', `${secret.slice(30)} end\n`)[0].text).toBe(`half ${REDACTED} end`);
	});

	it('cuts an overlong line', () => {
		const [line] = new LineCleaner([]).feed('stdout', `${'x'.repeat(5000)}\n`);
		expect(line.text).toHaveLength(2001);
		expect(line.text.endsWith('…')).toBe(true);
	});
});

describe('appendLines', () => {
	it('keeps the newest lines only', () => {
		const many = Array.from({ length: MAX_LOG_LINES + 5 }, (_, i) => ({ stream: 'stdout' as const, text: String(i) }));
		const kept = appendLines([{ stream: 'stdout', text: 'old' }], many);
		expect(kept).toHaveLength(MAX_LOG_LINES);
		expect(kept.at(-1)!.text).toBe(String(MAX_LOG_LINES + 4));
		expect(kept[0].text).toBe('5');
	});
});
