import { describe, expect, it } from 'vitest';
import { newSandboxId, templateOfId } from '../../src/lib/server/sandbox-ids.ts';

const SECRET = 'a secret for the tests';

describe('sandbox IDs', () => {
	it('are new every time, and name their template', async () => {
		const [a, b] = [await newSandboxId(SECRET, 'express'), await newSandboxId(SECRET, 'express')];
		expect(a).toMatch(/^express-[0-9a-f]{26}$/);
		expect(a).not.toBe(b);
		expect((await templateOfId(SECRET, a))?.id).toBe('express');
		expect((await templateOfId(SECRET, await newSandboxId(SECRET, 'vue')))?.id).toBe('vue');
	});

	it('refuse whatever the server did not make, without asking anyone', async () => {
		const made = await newSandboxId(SECRET, 'express');
		const nonce = made.slice('express-'.length, 'express-'.length + 10);
		for (const id of [
			'',
			'express',
			'express-00000000000000000000000000', // well-formed, not signed
			`vue-${made.slice('express-'.length)}`, // another template's name on it
			made.toUpperCase(),
			`${made}0`,
			made.slice(0, -1),
			`express-${nonce}${'0'.repeat(16)}`,
			`${made}/../x`
		]) {
			expect(await templateOfId(SECRET, id), id).toBeUndefined();
		}
		// Nor one made with another key.
		expect(await templateOfId('another key', made)).toBeUndefined();
	});
});
