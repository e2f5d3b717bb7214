/**
 * The app's source files, as the editor reads and writes them: which paths
 * a visitor may name, what content a save may carry, and the I/O itself.
 *
 * A path is accepted relative to the app (`src/App.vue`) or absolute inside
 * it (`/workspace/app/src/App.vue`), and must name a text file in one of the
 * template's editable places. `..`, hidden files and anything that resolves
 * through a symbolic link are refused: a link could point anywhere in the
 * sandbox, and the editor only edits the app's own files.
 */
import * as v from 'valibot';
import type { Sandbox } from './sandbox/types';
import { SandboxError } from './sandbox/types';
import type { Template } from './templates/catalog';

/** A template's editable places (its manifest's `editor`). */
export type EditableSources = NonNullable<Template['editor']>;

/** Where every template's app lives inside its sandbox. */
export const APP_DIR = '/workspace/app';

/** Source files are small; this is generous for one and keeps a save cheap. */
export const MAX_SOURCE_BYTES = 128 * 1024;

const TEXT_EXTENSIONS = ['.vue', '.js', '.mjs', '.ts', '.jsx', '.tsx', '.css', '.html', '.json', '.md', '.svg', '.txt'];
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** A refused path or content, with the HTTP status that fits. */
export class SourceFileError extends Error {
	readonly status: 400 | 403 | 404 | 413;

	constructor(status: SourceFileError['status'], message: string) {
		super(message);
		this.name = 'SourceFileError';
		this.status = status;
	}
}

/** The schema of a source path for a template: its output is the path relative to the app. */
export function sourcePath(sources: EditableSources) {
	const places = [...sources.directories.map((dir) => `${dir}/`), ...sources.files.filter((f) => !f.includes('/'))];
	return v.pipe(
		v.string('Name the file to edit.'),
		v.nonEmpty('Name the file to edit.'),
		v.maxLength(200, 'That path is too long.'),
		v.check((path) => !path.startsWith('/') || path.startsWith(`${APP_DIR}/`), `Only files inside the app (${APP_DIR}) can be edited.`),
		v.transform((path) => (path.startsWith('/') ? path.slice(APP_DIR.length + 1) : path)),
		v.check((path) => !path.split('/').includes('..'), 'Paths may not step out of a directory with "..".'),
		v.check(
			(path) => path.split('/').every((segment) => SEGMENT.test(segment)),
			'File and directory names may only use letters, digits, ".", "_" and "-", and may not start with ".".'
		),
		v.check(
			(path) => sources.files.includes(path) || sources.directories.some((dir) => path.startsWith(`${dir}/`)),
			`Only the app's sources can be edited: ${places.join(', ')}.`
		),
		v.check(
			(path) => TEXT_EXTENSIONS.includes(path.slice(path.lastIndexOf('.')).toLowerCase()),
			`The editor opens text files only (${TEXT_EXTENSIONS.join(' ')}).`
		)
	);
}

/** Checks the path of a request against the template's sources. */
export function parseSourcePath(sources: EditableSources, input: unknown): string {
	const result = v.safeParse(sourcePath(sources), input);
	if (!result.success) throw new SourceFileError(400, result.issues[0].message);
	return result.output;
}

/**
 * Checks what a save would write. Browsers send a textarea's line breaks as CRLF; files get LF.
 * Invalid UTF-8 arrives decoded as U+FFFD, so that character is refused along with NUL and
 * unpaired surrogates: none belongs in a source file.
 */
export function parseSourceContent(input: unknown): string {
	if (typeof input !== 'string') throw new SourceFileError(400, 'The file content must be sent as text.');
	const content = input.replace(/\r\n?/g, '\n');
	if (new TextEncoder().encode(content).byteLength > MAX_SOURCE_BYTES) {
		throw new SourceFileError(413, `The file is too large: source files may be up to ${MAX_SOURCE_BYTES / 1024} KiB.`);
	}
	if (!content.isWellFormed() || /[\0\uFFFD]/.test(content)) {
		throw new SourceFileError(400, 'The file must be UTF-8 text (no NUL or replacement characters).');
	}
	return content;
}

export async function readSource(sandbox: Sandbox, path: string): Promise<string> {
	await checkTarget(sandbox, path, { create: false });
	try {
		// As text, always: without an encoding the SDK guesses from the extension (and `.vue` is no text type).
		return (await sandbox.readFile(`${APP_DIR}/${path}`, { encoding: 'utf-8' })).content;
	} catch (error) {
		if (error instanceof SandboxError && error.code === 'FILE_NOT_FOUND') throw missing(path);
		throw error;
	}
}

/** Writes the file, creating its directory if needed. */
export async function writeSource(sandbox: Sandbox, path: string, content: string): Promise<void> {
	await checkTarget(sandbox, path, { create: true });
	await sandbox.writeFile(`${APP_DIR}/${path}`, content);
}

/**
 * How many browsers will apply a saved change by themselves (hot reload), as the template's own
 * `editor.liveClients` endpoint says; 0 without one, or when it does not answer.
 */
export async function liveClients(sandbox: Sandbox, { port, editor }: Template): Promise<number> {
	if (!editor?.liveClients) return 0;
	try {
		const response = await sandbox.containerFetch(new Request(`http://localhost${editor.liveClients}`), port);
		const clients = Number(((await response.json()) as { clients?: unknown }).clients);
		return Number.isInteger(clients) && clients > 0 ? clients : 0;
	} catch {
		return 0;
	}
}

/**
 * Asks the sandbox whether the path resolves to itself (no symbolic link anywhere along it) and is
 * a regular file or, when creating, not there yet; creating also makes its directory. One command,
 * the same on every backend.
 */
async function checkTarget(sandbox: Sandbox, path: string, { create }: { create: boolean }) {
	// The path passed the schema: letters, digits, "._-/" only, so it is safe inside single quotes.
	const target = `${APP_DIR}/${path}`;
	const script = [
		`p='${target}'`,
		`[ "$(realpath -m -- "$p")" = "$p" ] || exit 3`,
		`if [ -e "$p" ]; then [ -f "$p" ] || exit 4; else ${create ? 'mkdir -p -- "$(dirname -- "$p")" 2>/dev/null || exit 6' : 'exit 5'}; fi`
	].join('; ');
	// A shell of its own: the SDK runs commands in a long-lived session shell, which `exit` would end.
	const result = await sandbox.exec(`sh -c ${quote(script)}`, { timeout: 10_000 });
	if (result.exitCode === 3) throw new SourceFileError(403, `${path} leads through a symbolic link; only the app's own files can be edited.`);
	if (result.exitCode === 4) throw new SourceFileError(403, `${path} is not a regular file.`);
	if (result.exitCode === 5) throw missing(path);
	if (result.exitCode === 6) throw new SourceFileError(400, `${path} cannot be created: a folder on its path is a file.`);
	if (!result.success) throw new Error(`checking ${path} failed (${result.exitCode}): ${result.stderr.trim()}`);
}

function missing(path: string) {
	return new SourceFileError(404, `There is no ${path} in this sandbox.`);
}

function quote(text: string) {
	return `'${text.replaceAll("'", `'\\''`)}'`;
}
