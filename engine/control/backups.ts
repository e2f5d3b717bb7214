/**
 * Backups: `/api/backup/create` makes a squashfs archive of a directory under /var/backups, which
 * the SDK's Durable Object then reads (`/api/read/stream`) and keeps in R2. The SDK restores an
 * archive it wrote back (`/api/write`) with `unsquashfs`, a command like any other.
 *
 * Like the real server: the archive is made by the host's `mksquashfs` (squashfs-tools), run in the
 * request's session, so it sees the container's files as the session does; `excludes` are
 * mksquashfs wildcards, matched at any depth; `gitignore` adds what git ignores in the directory.
 * Not here: `/api/backup/restore` and `/api/backup/upload-parts`, the production path's FUSE mount
 * and presigned R2 uploads (the SDK's `localBucket` backups need neither).
 */
import * as v from 'valibot';
import { ErrorCode, Operation, ProtocolError } from './errors.ts';
import type { Execution } from './execution.ts';
import { quote } from './shell-session.ts';

/** Where archives are made; the SDK names them `/var/backups/{id}.sqsh`. */
export const BACKUP_DIR = '/var/backups';
const MKSQUASHFS = '/usr/bin/mksquashfs';
const MAX_PATH_LENGTH = 4096;

const dirPath = v.pipe(
	v.string('Missing or invalid field: dir'),
	v.minLength(1, 'Missing or invalid field: dir'),
	v.maxLength(MAX_PATH_LENGTH, 'dir path exceeds maximum length'),
	v.startsWith('/', 'dir must be an absolute path'),
	v.check((dir) => !dir.includes('..'), 'dir must not contain path traversal sequences'),
	v.check((dir) => !dir.includes('\0'), 'dir must not contain null bytes')
);

const archivePath = v.pipe(
	v.string('Missing or invalid field: archivePath'),
	v.minLength(1, 'Missing or invalid field: archivePath'),
	v.maxLength(MAX_PATH_LENGTH, 'archivePath exceeds maximum length'),
	v.check((path) => !path.includes('..'), 'archivePath must not contain path traversal sequences'),
	v.startsWith(`${BACKUP_DIR}/`, 'Invalid archivePath: must use designated backup directory'),
	v.check((path) => !path.includes('\0') && !path.slice(BACKUP_DIR.length + 1).includes('/'), 'Invalid archivePath: must name a file in the backup directory')
);

const CreateBackupBody = v.object({
	dir: dirPath,
	archivePath,
	gitignore: v.optional(v.boolean('gitignore must be a boolean'), false),
	excludes: v.optional(v.array(v.string('excludes must be an array of strings'), 'excludes must be an array of strings'), []),
	compression: v.optional(
		v.object(
			{
				format: v.optional(v.picklist(['gzip', 'lz4', 'zstd'], 'compression.format must be one of: gzip, lz4, zstd'), 'lz4'),
				threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1, 'compression.threads must be a positive integer')), 8)
			},
			'compression must be an object'
		),
		{}
	),
	sessionId: v.optional(v.string())
});

export type CreateBackupRequest = v.InferOutput<typeof CreateBackupBody>;

/** The body checked, or INVALID_BACKUP_CONFIG (400) with the real server's wording. */
export function parseCreateBackup(input: unknown): CreateBackupRequest {
	const result = v.safeParse(CreateBackupBody, input ?? {});
	if (result.success) return result.output;
	throw invalidConfig(result.issues[0].message);
}

/** Makes the archive; its size in bytes. */
export async function createArchive(execution: Execution, request: CreateBackupRequest): Promise<number> {
	const { dir, archivePath, gitignore, excludes, compression } = request;
	const run = (command: string) => execution.exec(command);
	if ((await run(`mkdir -p ${BACKUP_DIR}`)).exitCode !== 0) throw createFailed(`Failed to create backup work directory ${BACKUP_DIR}`, { dir, archivePath });
	if ((await run(`test -d ${quote(dir)}`)).exitCode !== 0) throw createFailed(`Source directory does not exist: ${dir}`, { dir });
	if ((await run(`test -x ${MKSQUASHFS}`)).exitCode !== 0) {
		throw createFailed(`mksquashfs binary not found at ${MKSQUASHFS}. Ensure squashfs-tools is installed.`, { dir, archivePath, binaryPath: MKSQUASHFS });
	}
	const patterns = [...new Set([...(gitignore ? await gitIgnored(execution, dir) : []), ...excludes.flatMap(anyDepth)])];
	const excludeFile = `${archivePath}.exclude`;
	try {
		const args = [quote(dir), quote(archivePath), `-comp ${compression.format}`, `-processors ${compression.threads}`, '-no-progress', '-noappend'];
		if (patterns.length > 0) {
			const written = await run(`printf '%s\\n' ${patterns.map(quote).join(' ')} > ${quote(excludeFile)}`);
			if (written.exitCode !== 0) throw createFailed('Failed to write exclude patterns file', { dir, archivePath });
			args.push('-wildcards', `-ef ${quote(excludeFile)}`);
		}
		const made = await run(`${MKSQUASHFS} ${args.join(' ')}`);
		if (made.exitCode !== 0) {
			throw createFailed(`mksquashfs failed: ${made.stderr || made.stdout}`, { dir, archivePath, exitCode: made.exitCode, stderr: made.stderr });
		}
		const size = await run(`stat -c %s ${quote(archivePath)}`);
		return Number.parseInt(size.stdout.trim(), 10) || 0;
	} finally {
		if (patterns.length > 0) await run(`rm -f ${quote(excludeFile)}`).catch(() => {});
	}
}

/**
 * A pattern as the SDK means it: the path itself, or that name at any depth (mksquashfs's `...`
 * prefix); a globstar, which mksquashfs lacks, is what `...` means already.
 */
function anyDepth(pattern: string): string[] {
	let normalized = pattern;
	while (normalized.startsWith('**/')) normalized = normalized.slice(3);
	normalized = normalized.replaceAll('/**/', '/');
	if (normalized.endsWith('/**')) normalized = normalized.slice(0, -3);
	return normalized === '' || normalized === '**' ? [] : [normalized, `... ${normalized}`];
}

/** What git ignores in `dir`, relative to it; nothing when git is missing or `dir` is no work tree. */
async function gitIgnored(execution: Execution, dir: string): Promise<string[]> {
	const listed = await execution.exec(`command -v git >/dev/null && git -C ${quote(dir)} -c core.quotePath=false ls-files --others -i --exclude-standard --directory -- .`);
	if (listed.exitCode !== 0) return [];
	return listed.stdout
		.split('\n')
		.map((line) => line.replace(/\/$/, ''))
		.filter((line) => line !== '');
}

function invalidConfig(message: string): ProtocolError {
	return new ProtocolError(ErrorCode.INVALID_BACKUP_CONFIG, message, { operation: Operation.BACKUP_CREATE });
}

function createFailed(message: string, details: Record<string, unknown>): ProtocolError {
	return new ProtocolError(ErrorCode.BACKUP_CREATE_FAILED, message, { ...details, operation: Operation.BACKUP_CREATE });
}
