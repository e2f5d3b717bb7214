/**
 * The template catalog (sandbox/catalog.ts): every folder with a template.json is a template, its
 * manifest is checked with a message that names the folder and the field, and the app's own
 * sources name no template — everything about one lives in its folder.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTemplates, TEMPLATES_DIR } from '../../sandbox/catalog.ts';
import { scratchDir } from '../helpers/host.ts';

/** A copy of the real template folders (without their dependencies), to change freely. */
function scratchTemplates(): string {
	const dir = scratchDir('templates-');
	for (const id of readdirSync(TEMPLATES_DIR)) {
		cpSync(join(TEMPLATES_DIR, id), join(dir, id), { recursive: true, filter: (source) => !source.includes('node_modules') });
	}
	return dir;
}

const manifestOf = (dir: string, id: string) => JSON.parse(readFileSync(join(dir, id, 'template.json'), 'utf8'));
const writeManifest = (dir: string, id: string, manifest: unknown) => writeFileSync(join(dir, id, 'template.json'), JSON.stringify(manifest));

describe('the catalog', () => {
	it('has every folder with a manifest, in the manifests’ order, and nothing else', () => {
		const dir = scratchTemplates();
		mkdirSync(join(dir, 'notes')); // a folder without a template.json: not a template
		writeFileSync(join(dir, 'README.md'), 'a file beside the folders');
		const templates = readTemplates(dir);
		expect(templates.map((t) => t.id)).toEqual(['express', 'vue', 'hono']);
		expect(templates[0]).toMatchObject({ label: 'Express API', port: 3001, ready: { path: '/health', timeoutSeconds: 30 } });
	});

	it('takes a new folder as a new template, defaults filled in', () => {
		const dir = scratchTemplates();
		cpSync(join(dir, 'express'), join(dir, 'echo'), { recursive: true });
		writeManifest(dir, 'echo', { label: 'Echo', description: 'Says it back', port: 4001, start: { command: 'node server.js', label: 'Starting' }, ready: { path: '/' } });
		const echo = readTemplates(dir).find((t) => t.id === 'echo');
		expect(echo).toMatchObject({ order: 100, ready: { label: 'Waiting for the app to answer', timeoutSeconds: 30 } });
	});

	it('refuses a bad manifest, naming the folder and the field', () => {
		const cases: [string, (manifest: Record<string, unknown>) => unknown, string][] = [
			['the control server’s port', (m) => ({ ...m, port: 3000 }), 'express/template.json: port: port 3000 belongs to the sandbox itself'],
			['a ready path without its slash', (m) => ({ ...m, ready: { path: 'health' } }), 'express/template.json: ready.path'],
			['a field it does not know', (m) => ({ ...m, command: 'node server.js' }), 'express/template.json: command'],
			['an editor file the folder lacks', (m) => ({ ...m, editor: { files: ['app.js'] } }), 'editor names app.js, which the folder does not have'],
			['an API token in a lowercase variable', (m) => ({ ...m, api: { tokenEnv: 'token' } }), 'express/template.json: api.tokenEnv']
		];
		for (const [what, change, message] of cases) {
			const dir = scratchTemplates();
			writeManifest(dir, 'express', change(manifestOf(dir, 'express')));
			expect(() => readTemplates(dir), what).toThrow(message);
		}
		const dir = scratchTemplates();
		writeFileSync(join(dir, 'vue', 'template.json'), '{ "label": ');
		expect(() => readTemplates(dir)).toThrow(`${join(dir, 'vue')}/template.json is not JSON`);
		cpSync(join(dir, 'express'), join(dir, 'My-App'), { recursive: true });
		expect(() => readTemplates(dir)).toThrow(`${join(dir, 'My-App')}: A template folder is named with 2–16 lowercase letters and digits`);
	});
});

describe("the app's sources", () => {
	it('name no template: not its ID, nor its label', () => {
		const files: string[] = [];
		const walk = (dir: string) => {
			for (const name of readdirSync(dir)) {
				const path = join(dir, name);
				if (statSync(path).isDirectory()) walk(path);
				else if (name !== 'catalog.generated.ts') files.push(path);
			}
		};
		walk('src');
		for (const { id, label } of readTemplates()) {
			for (const file of files) {
				const text = readFileSync(file, 'utf8');
				expect(text, `${file} names ${id}`).not.toMatch(new RegExp(`['"\`/]${id}['"\`/-]`));
				expect(text, `${file} names ${label}`).not.toContain(label);
			}
		}
	});
});
