/**
 * The docs stay true to the tree: the README is short, every path a doc names exists, and the
 * "Where things live" maps of the README and of the engine's README name every source file of the
 * worker (`src/`), of the dev tooling (`dev/`) and of the engine (`engine/`), so that a file added,
 * moved or removed without its line fails here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCS = [
	'README.md',
	'docs/architecture.md',
	'docs/security.md',
	'docs/deployment.md',
	'engine/README.md',
	'sandbox/templates/README.md',
	'tests/README.md',
	'bench/README.md'
];
/** Paths inside a sandbox's app (the Vue template's), not the repository's. */
const APP_PATHS = ['src/App.vue', 'src/main.js'];
/** Generated (and git-ignored): not a source file. */
const GENERATED = ['src/lib/server/templates/catalog.generated.ts'];

const read = (doc: string) => readFileSync(join(ROOT, doc), 'utf8');

/**
 * The paths the "Where things live" block of a doc names, from the repository's root. A line is
 * its indentation, then names separated by single spaces, then (after two spaces or more) what
 * they are; a line of one folder name (ending in `/`) holds the more indented lines below it.
 */
function mapOf(doc: string): string[] {
	const section = read(doc).split(/^## /m).find((part) => part.startsWith('Where things live'));
	const block = section && /```\w*\n([\s\S]*?)```/.exec(section)?.[1];
	if (!block) throw new Error(`${doc} has no "Where things live" block`);
	const paths: string[] = [];
	const folders: { indent: number; path: string }[] = [];
	for (const line of block.split('\n').filter((line) => line.trim())) {
		const indent = line.length - line.trimStart().length;
		while (folders.length > 0 && folders.at(-1)!.indent >= indent) folders.pop();
		const names = line.trim().split(/\s{2,}/)[0].split(' ');
		const base = folders.at(-1)?.path ?? '';
		paths.push(...names.map((name) => base + name));
		if (names.length === 1 && names[0].endsWith('/')) folders.push({ indent, path: base + names[0] });
	}
	return paths;
}

/** Every file under a folder of the repository, as paths from its root. */
function filesUnder(folder: string): string[] {
	return readdirSync(join(ROOT, folder), { recursive: true, withFileTypes: true })
		.filter((entry) => entry.isFile())
		.map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** What a doc names as a path: `src/…`-like code spans (from the root), and relative links (from the doc). */
function pathsNamedIn(doc: string): string[] {
	const text = read(doc);
	const spans = [...text.matchAll(/`((?:src|sandbox|tests|static|docs|\.ci)\/[^`\s]*|[\w.-]+\.(?:jsonc|json|ts))`/g)]
		.map(([, path]) => path)
		.filter((path) => path.includes('/') && !/[*{}…]/.test(path) && !APP_PATHS.includes(path));
	const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
		.map(([, target]) => target)
		.filter((target) => !/^[a-z]+:/.test(target) && !target.includes('…'))
		.map((target) => relative(ROOT, resolve(ROOT, dirname(doc), target)));
	return [...spans, ...links];
}

describe('the docs', () => {
	it('start with a README of at most 200 lines', () => {
		expect(read('README.md').split('\n').length).toBeLessThanOrEqual(200);
	});

	it.each(DOCS)('%s names only paths that exist', (doc) => {
		const missing = pathsNamedIn(doc).filter((path) => !existsSync(join(ROOT, path)));
		expect(missing).toEqual([]);
	});

	it.each([
		['README.md', 'src'],
		['README.md', 'dev'],
		['engine/README.md', 'engine']
	])('%s maps every file of %s/, and only files that exist', (doc, folder) => {
		const map = mapOf(doc);
		expect(map.filter((path) => !existsSync(join(ROOT, path)))).toEqual([]);
		const unnamed = filesUnder(folder).filter((file) => !map.includes(file) && !GENERATED.includes(file) && !file.endsWith('README.md'));
		expect(unnamed).toEqual([]);
	});
});
