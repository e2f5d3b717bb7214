import { describe, expect, it } from 'vitest';
import { MAX_SOURCE_BYTES, parseSourceContent, parseSourcePath, SourceFileError } from '../../src/lib/server/source-files.ts';
import { templateOf } from '../../src/lib/server/templates/catalog.ts';

const vue = templateOf('vue')!.editor!;

/** The refusal a call throws: its status and message. */
async function refusal(call: () => unknown): Promise<{ status: number; message: string }> {
	try {
		await call();
	} catch (error) {
		if (error instanceof SourceFileError) return { status: error.status, message: error.message };
		throw error;
	}
	throw new Error('expected a refusal');
}

describe('source paths', () => {
	it.each([
		['src/App.vue', 'src/App.vue'],
		['index.html', 'index.html'],
		['src/components/Counter.vue', 'src/components/Counter.vue'],
		['/workspace/app/src/main.js', 'src/main.js']
	])('accepts %s as %s', (input, path) => {
		expect(parseSourcePath(vue, input)).toBe(path);
	});

	it.each([
		['../package.json', 'step out of a directory'],
		['src/../../etc/passwd', 'step out of a directory'],
		['/etc/passwd', 'Only files inside the app'],
		['/workspace/app/../../etc/passwd', 'step out of a directory'],
		['/workspace/apple/src/App.vue', 'Only files inside the app'],
		['vite.config.js', "Only the app's sources"],
		['package.json', "Only the app's sources"],
		['node_modules/vue/index.js', "Only the app's sources"],
		['src/.env', 'may not start with "."'],
		['src//App.vue', 'may only use letters'],
		['src\\App.vue', 'may only use letters'],
		['src/App vue', 'may only use letters'],
		['src/run.sh', 'text files only'],
		['src/README', 'text files only'],
		['', 'Name the file'],
		[`src/${'a'.repeat(200)}.vue`, 'too long']
	])('refuses %s with 400', async (input, message) => {
		const { status, message: said } = await refusal(() => parseSourcePath(vue, input));
		expect(status).toBe(400);
		expect(said).toContain(message);
	});

	it('refuses a path that is not text', async () => {
		expect(await refusal(() => parseSourcePath(vue, new File(['x'], 'App.vue')))).toMatchObject({ status: 400 });
		expect(await refusal(() => parseSourcePath(vue, null))).toMatchObject({ status: 400 });
	});
});

describe('source content', () => {
	it('stores line breaks as LF, whatever the browser sent', () => {
		expect(parseSourceContent('a\r\nb\rc\n')).toBe('a\nb\nc\n');
	});

	it('accepts a file of exactly the limit and refuses one byte more with 413', async () => {
		expect(parseSourceContent('é'.repeat(MAX_SOURCE_BYTES / 2))).toHaveLength(MAX_SOURCE_BYTES / 2);
		expect(await refusal(() => parseSourceContent(`${'é'.repeat(MAX_SOURCE_BYTES / 2)}x`))).toMatchObject({
			status: 413,
			message: expect.stringContaining('too large')
		});
	});

	it.each([
		['a NUL character', 'a\0b'],
		['an unpaired surrogate', 'a\uD800b'],
		['the replacement character of an invalid UTF-8 byte', 'a\uFFFDb']
	])('refuses %s with 400', async (_, content) => {
		expect(await refusal(() => parseSourceContent(content))).toMatchObject({ status: 400, message: expect.stringContaining('UTF-8') });
	});

	it('refuses content that is not text', async () => {
		expect(await refusal(() => parseSourceContent(new File(['x'], 'App.vue')))).toMatchObject({ status: 400 });
	});
});
