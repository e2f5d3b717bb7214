/** How the page says how long ago edits were saved, and how long a sandbox went unused. */
import { describe, expect, it } from 'vitest';
import { spokenAgo, spokenDuration } from '../../src/lib/durations.ts';

describe('spokenDuration', () => {
	it('says seconds up to two minutes, minutes up to two hours, hours up to two days, then days', () => {
		expect(spokenDuration(45_000)).toBe('45 seconds');
		expect(spokenDuration(119_000)).toBe('119 seconds');
		expect(spokenDuration(12 * 60_000)).toBe('12 minutes');
		expect(spokenDuration(3 * 3600_000)).toBe('3 hours');
		expect(spokenDuration(6 * 86_400_000)).toBe('6 days');
	});
});

describe('spokenAgo', () => {
	it('says "a moment ago" under ten seconds, and the duration ago after', () => {
		expect(spokenAgo(0)).toBe('a moment ago');
		expect(spokenAgo(9_999)).toBe('a moment ago');
		expect(spokenAgo(10_000)).toBe('10 seconds ago');
		expect(spokenAgo(25 * 60_000)).toBe('25 minutes ago');
	});
});
