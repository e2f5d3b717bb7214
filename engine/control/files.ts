/**
 * File operations in a session's terms: a relative path is relative to the session's working
 * directory (asked of its shell), and every operation waits its turn in the session's queue, as on
 * the real server. Sessionless calls resolve relative paths against the workspace.
 *
 * Paths are otherwise taken as given: the container is the boundary, not this server (the real
 * server also only refuses empty paths, NUL bytes and paths over 4096 characters).
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ErrorCode, Operation, ProtocolError, errorMessage } from './errors.ts';
import type { Execution, RunCommand } from './execution.ts';
import { UNKNOWN_TYPE, isBinaryType, typeByExtension } from './mime-types.ts';
import { quote } from './shell-session.ts';
import type { EventStream } from './sse.ts';

/** Encoded reads are capped, as on the real server (larger files need its RPC transport). */
const MAX_READ_BYTES = 32 * 1024 * 1024;
/** Bytes per `chunk` event of a streamed read; a multiple of 3, so base64 chunks concatenate cleanly. */
const STREAM_CHUNK_BYTES = 65535;
const BASE64 = /^[A-Za-z0-9+/=]*$/;

export type FileEncoding = 'utf-8' | 'base64';

export interface ReadResult {
	content: string;
	encoding: FileEncoding;
	isBinary: boolean;
	mimeType: string;
	size: number;
}

export interface FileInfo {
	name: string;
	absolutePath: string;
	relativePath: string;
	type: 'file' | 'directory' | 'symlink' | 'other';
	size: number;
	modifiedAt: string;
	mode: string;
	permissions: { readable: boolean; writable: boolean; executable: boolean };
}

export async function readTextOrBase64(execution: Execution, path: string, requested: string | undefined): Promise<ReadResult> {
	requireValidPath(path);
	return execution.withLock(async (run) => {
		const absolute = await resolvePath(path, run);
		const metadata = await fileMetadata(absolute, path, run);
		// An explicit encoding wins; otherwise the type decides.
		const encoding: FileEncoding =
			requested === 'base64' ? 'base64' : requested === 'utf-8' || requested === 'utf8' ? 'utf-8' : metadata.isBinary ? 'base64' : 'utf-8';
		const bytes = await readFile(absolute).catch((error) => {
			throw fileSystemError(error, path, Operation.FILE_READ, `Failed to read file '${path}'`);
		});
		return {
			content: bytes.toString(encoding === 'base64' ? 'base64' : 'utf8'),
			encoding,
			isBinary: encoding === 'base64',
			mimeType: metadata.mimeType,
			size: metadata.size
		};
	});
}

/** `/api/read/stream`: a `metadata` event, `chunk` events, then `complete` — or a single `error` event. */
export async function streamFile(execution: Execution, path: string, events: EventStream): Promise<void> {
	let absolute: string;
	let metadata: { mimeType: string; size: number; isBinary: boolean };
	try {
		requireValidPath(path);
		[absolute, metadata] = await execution.withLock(async (run) => {
			const resolved = await resolvePath(path, run);
			return [resolved, await fileMetadata(resolved, resolved, run)] as const;
		});
	} catch (error) {
		events.send({ type: 'error', error: errorMessage(error) });
		events.end();
		return;
	}
	events.send({ type: 'metadata', mimeType: metadata.mimeType, size: metadata.size, isBinary: metadata.isBinary, encoding: metadata.isBinary ? 'base64' : 'utf-8' });
	const decoder = new StringDecoder('utf8');
	let bytesRead = 0;
	try {
		for await (const chunk of createReadStream(absolute, { highWaterMark: STREAM_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
			if (events.isClosed) return;
			bytesRead += chunk.length;
			const data = metadata.isBinary ? chunk.toString('base64') : decoder.write(chunk);
			if (data !== '') events.send({ type: 'chunk', data });
		}
		const rest = metadata.isBinary ? '' : decoder.end();
		if (rest !== '') events.send({ type: 'chunk', data: rest });
		events.send({ type: 'complete', bytesRead });
	} catch (error) {
		events.send({ type: 'error', error: errorMessage(error) });
	}
	events.end();
}

export async function writeTextOrBase64(execution: Execution, path: string, content: string, encoding: string | undefined): Promise<void> {
	requireValidPath(path);
	const isBase64 = encoding === 'base64';
	if (isBase64 && !BASE64.test(content)) {
		throw new ProtocolError(ErrorCode.VALIDATION_FAILED, `Invalid base64 content for '${path}': only A-Z, a-z, 0-9, +, / and = may appear`, {
			validationErrors: [{ field: 'content', message: 'Invalid base64 characters', code: 'INVALID_BASE64' }]
		});
	}
	await execution.withLock(async (run) => {
		const absolute = await resolvePath(path, run);
		try {
			// Missing parent directories are created, as Bun.write does on the real server.
			await mkdir(dirname(absolute), { recursive: true });
			await writeFile(absolute, isBase64 ? Buffer.from(content, 'base64') : content);
		} catch (error) {
			throw fileSystemError(error, path, Operation.FILE_WRITE, `Failed to write file '${path}'`);
		}
	});
}

export async function deleteFile(execution: Execution, path: string): Promise<void> {
	requireValidPath(path);
	await execution.withLock(async (run) => {
		const absolute = await resolvePath(path, run);
		const stats = await stat(absolute).catch(() => undefined);
		if (!stats) throw fileNotFound(path, Operation.FILE_DELETE);
		if (stats.isDirectory()) {
			throw new ProtocolError(ErrorCode.IS_DIRECTORY, `Cannot delete directory with deleteFile() at '${path}'. Use exec('rm -rf <path>') instead.`, {
				path,
				operation: Operation.FILE_DELETE
			});
		}
		await unlink(absolute).catch((error) => {
			throw fileSystemError(error, path, Operation.FILE_DELETE, `Failed to delete file '${path}'`);
		});
	});
}

/** Rename and move are both `mv` on the real server (across filesystems too: /workspace → /tmp). */
export async function moveFile(execution: Execution, from: string, to: string, kind: 'rename' | 'move'): Promise<void> {
	requireValidPath(from);
	requireValidPath(to);
	const operation = kind === 'rename' ? Operation.FILE_RENAME : Operation.FILE_MOVE;
	await execution.withLock(async (run) => {
		if ((await run(`test -e ${quote(from)}`)).exitCode !== 0) {
			throw new ProtocolError(ErrorCode.FILE_NOT_FOUND, `Source file not found: ${from}`, { path: from, operation });
		}
		const result = await run(`mv -- ${quote(await resolvePath(from, run))} ${quote(await resolvePath(to, run))}`);
		if (result.exitCode !== 0) {
			const what = kind === 'rename' ? 'Rename' : 'Move';
			const paths = kind === 'rename' ? { oldPath: from, newPath: to } : { sourcePath: from, destinationPath: to };
			throw new ProtocolError(ErrorCode.FILESYSTEM_ERROR, `${what} operation failed with exit code ${result.exitCode}`, {
				...paths,
				exitCode: result.exitCode,
				stderr: result.stderr
			});
		}
	});
}

export async function makeDirectory(execution: Execution, path: string, recursive: boolean): Promise<void> {
	requireValidPath(path);
	const result = await execution.exec(`mkdir ${recursive ? '-p ' : ''}-- ${quote(path)}`);
	if (result.exitCode !== 0) {
		throw new ProtocolError(ErrorCode.FILESYSTEM_ERROR, `mkdir operation failed with exit code ${result.exitCode}`, {
			path,
			options: { recursive },
			exitCode: result.exitCode,
			stderr: result.stderr
		});
	}
}

export async function pathExists(execution: Execution, path: string): Promise<boolean> {
	requireValidPath(path);
	// A command that cannot run at all reads as "does not exist", as on the real server.
	const result = await execution.exec(`test -e ${quote(path)}`).catch(() => undefined);
	return result?.exitCode === 0;
}

export async function listFiles(execution: Execution, path: string, options: { recursive?: boolean; includeHidden?: boolean }): Promise<FileInfo[]> {
	requireValidPath(path);
	const target = quote(path);
	const filters = [options.recursive ? '' : '-maxdepth 1', options.includeHidden ? '' : `-not -name '.*'`].filter(Boolean).join(' ');
	// One step in the session's queue: the checks and the listing (GNU find's -printf: path, type, size, mtime, mode).
	const script = [
		`if [ ! -e ${target} ]; then exit 201; fi`,
		`if [ ! -d ${target} ]; then exit 202; fi`,
		`find ${target} ${filters} -not -path ${target} -printf '%p\\t%y\\t%s\\t%TY-%Tm-%TdT%TH:%TM:%TS\\t%m\\n'`
	].join('\n');
	const result = await execution.exec(`( ${script}\n)`);
	if (result.exitCode === 201) throw new ProtocolError(ErrorCode.FILE_NOT_FOUND, `Directory not found: ${path}`, { path, operation: Operation.DIRECTORY_LIST });
	if (result.exitCode === 202) throw new ProtocolError(ErrorCode.NOT_DIRECTORY, `Path is not a directory: ${path}`, { path, operation: Operation.DIRECTORY_LIST });
	if (result.exitCode !== 0) {
		throw new ProtocolError(ErrorCode.FILESYSTEM_ERROR, `Failed to list files in '${path}': ${result.stderr || `exit code ${result.exitCode}`}`, {
			path,
			operation: Operation.DIRECTORY_LIST,
			exitCode: result.exitCode,
			stderr: result.stderr
		});
	}
	const base = path.endsWith('/') ? path.slice(0, -1) : path;
	return result.stdout
		.split('\n')
		.map((line) => line.split('\t'))
		.filter((fields) => fields.length === 5)
		.map(([listed, typeLetter, size, modifiedAt, octalMode]) => {
			const mode = parseInt(octalMode, 8);
			return {
				name: listed.split('/').pop() ?? '',
				absolutePath: listed,
				relativePath: listed.startsWith(`${base}/`) ? listed.slice(base.length + 1) : (listed.split('/').pop() ?? ''),
				type: typeLetter === 'f' ? 'file' : typeLetter === 'd' ? 'directory' : typeLetter === 'l' ? 'symlink' : 'other',
				size: parseInt(size, 10),
				modifiedAt,
				mode: modeString(mode),
				permissions: { readable: (mode & 0o400) !== 0, writable: (mode & 0o200) !== 0, executable: (mode & 0o100) !== 0 }
			} satisfies FileInfo;
		});
}

/** The real server's only checks on a path's form. */
function requireValidPath(path: string) {
	const problems: string[] = [];
	if (path === '') problems.push('Path must be a non-empty string');
	if (path.includes('\0')) problems.push('Path contains null bytes');
	if (path.length > 4096) problems.push('Path too long (max 4096 characters)');
	if (problems.length === 0) return;
	throw new ProtocolError(ErrorCode.VALIDATION_FAILED, `Invalid path format for '${path}': ${problems.join(', ')}`, {
		validationErrors: problems.map((message) => ({ field: 'path', message, code: 'INVALID_PATH' }))
	});
}

/** An absolute path as is; a relative one against the session's working directory. */
async function resolvePath(path: string, run: RunCommand): Promise<string> {
	if (path.startsWith('/')) return path;
	const pwd = await run('pwd');
	if (pwd.exitCode !== 0) {
		throw new ProtocolError(ErrorCode.FILESYSTEM_ERROR, `Failed to resolve working directory for '${path}'`, {
			path,
			exitCode: pwd.exitCode,
			stderr: pwd.stderr
		});
	}
	return posix.resolve(pwd.stdout.trim(), path);
}

/** Existence, size and type of a file to read; a type the extension does not tell is sniffed with `file`. */
async function fileMetadata(absolute: string, shownPath: string, run: RunCommand) {
	const stats = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
		if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw fileNotFound(shownPath, Operation.FILE_READ);
		throw fileSystemError(error, shownPath, Operation.FILE_READ, `Failed to read file '${shownPath}'`);
	});
	// As the real server answers: a directory is no file to read.
	if (stats.isDirectory()) throw fileNotFound(shownPath, Operation.FILE_READ);
	if (stats.size > MAX_READ_BYTES) {
		throw new ProtocolError(ErrorCode.FILE_TOO_LARGE, `File too large: ${stats.size} bytes is over the ${MAX_READ_BYTES} bytes an encoded read may return`, {
			path: shownPath,
			operation: Operation.FILE_READ,
			actualSize: stats.size,
			maxSize: MAX_READ_BYTES
		});
	}
	let mimeType = typeByExtension(absolute);
	if (mimeType === UNKNOWN_TYPE) {
		const sniffed = await run(`file --mime-type -b ${quote(absolute)}`);
		if (sniffed.exitCode === 0 && sniffed.stdout.trim() !== '') mimeType = sniffed.stdout.trim();
	}
	return { mimeType, size: stats.size, isBinary: isBinaryType(mimeType) };
}

function fileNotFound(path: string, operation: string): ProtocolError {
	return new ProtocolError(ErrorCode.FILE_NOT_FOUND, `File not found: ${path}`, { path, operation });
}

function fileSystemError(error: unknown, path: string, operation: string, summary: string): ProtocolError {
	const message = errorMessage(error);
	const code = (error as NodeJS.ErrnoException).code === 'EACCES' ? ErrorCode.PERMISSION_DENIED : ErrorCode.FILESYSTEM_ERROR;
	return new ProtocolError(code, `${summary}: ${message}`, { path, operation, stderr: message });
}

function modeString(mode: number): string {
	const letters = (bits: number) => `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
	return letters(mode >> 6) + letters(mode >> 3) + letters(mode);
}
