import { describe, expect, it } from 'vitest';
import { newSandboxId, templateOfId } from '../../src/lib/server/sandbox-ids.ts';

describe('sandbox IDs', () => {
	it('are new every time, and name their template', () => {
		const [a, b] = [newSandboxId('express'), newSandboxId('express')];
		expect(a).toMatch(/^express-[0-9a-f]{26}$/);
		expect(a).not.toBe(b);
		expect(templateOfId(a)?.id).toBe('express');
		expect(templateOfId(newSandboxId('vue'))?.id).toBe('vue');
	});

	it('refuse whatever the server did not make', () => {
		for (const id of [
			'',
			'express',
			'express-0123456789abcdef0123456789a', // too long
			'express-0123456789abcdef012345678', // too short
			'EXPRESS-0123456789abcdef0123456789',
			'express-0123456789ABCDEF0123456789', // another spelling of one
			'nosuch-0123456789abcdef0123456789',
			'express-0123456789abcdef0123456789/../x'
		]) {
			expect(templateOfId(id), id).toBeUndefined();
		}
		expect(templateOfId('express-0123456789abcdef0123456789')?.id).toBe('express');
	});
});
