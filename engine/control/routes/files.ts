/**
 * Files: read (whole or streamed), write, delete, rename, move, mkdir, list, exists. Each runs in
 * the session the request names (see files.ts for what that means for paths).
 */
import { now } from '../errors.ts';
import { deleteFile, listFiles, makeDirectory, moveFile, pathExists, readTextOrBase64, streamFile, writeTextOrBase64 } from '../files.ts';
import type { Router } from '../http.ts';
import { ListFilesBody, MkdirBody, MoveBody, PathBody, ReadBody, RenameBody, WriteBody, parse } from '../schemas.ts';
import { EventStream } from '../sse.ts';
import type { Services } from './services.ts';

export function registerFileRoutes(router: Router, services: Services) {
	const inSession = (sessionId: string | undefined) => services.executions.resolve(sessionId);

	router.add('POST', '/api/read', async ({ body }) => {
		const request = parse(ReadBody, await body());
		const file = await readTextOrBase64(inSession(request.sessionId), request.path, request.encoding);
		return { success: true, path: request.path, content: file.content, timestamp: now(), encoding: file.encoding, isBinary: file.isBinary, mimeType: file.mimeType, size: file.size };
	});

	router.add('POST', '/api/read/stream', async ({ res, body }) => {
		const request = parse(PathBody, await body());
		await streamFile(inSession(request.sessionId), request.path, new EventStream(res));
	});

	router.add('POST', '/api/write', async ({ body }) => {
		const request = parse(WriteBody, await body());
		await writeTextOrBase64(inSession(request.sessionId), request.path, request.content, request.encoding);
		return { success: true, path: request.path, timestamp: now() };
	});

	router.add('POST', '/api/delete', async ({ body }) => {
		const request = parse(PathBody, await body());
		await deleteFile(inSession(request.sessionId), request.path);
		return { success: true, path: request.path, timestamp: now() };
	});

	router.add('POST', '/api/rename', async ({ body }) => {
		const request = parse(RenameBody, await body());
		await moveFile(inSession(request.sessionId), request.oldPath, request.newPath, 'rename');
		return { success: true, path: request.oldPath, newPath: request.newPath, timestamp: now() };
	});

	router.add('POST', '/api/move', async ({ body }) => {
		const request = parse(MoveBody, await body());
		await moveFile(inSession(request.sessionId), request.sourcePath, request.destinationPath, 'move');
		return { success: true, path: request.sourcePath, newPath: request.destinationPath, timestamp: now() };
	});

	router.add('POST', '/api/mkdir', async ({ body }) => {
		const request = parse(MkdirBody, await body());
		const recursive = request.recursive ?? false;
		await makeDirectory(inSession(request.sessionId), request.path, recursive);
		return { success: true, path: request.path, recursive, timestamp: now() };
	});

	router.add('POST', '/api/list-files', async ({ body }) => {
		const request = parse(ListFilesBody, await body());
		const files = await listFiles(inSession(request.sessionId), request.path, request.options ?? {});
		return { success: true, path: request.path, files, count: files.length, timestamp: now() };
	});

	router.add('POST', '/api/exists', async ({ body }) => {
		const request = parse(PathBody, await body());
		return { success: true, path: request.path, exists: await pathExists(inSession(request.sessionId), request.path), timestamp: now() };
	});
}
