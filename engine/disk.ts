/**
 * A sandbox's disk: `/workspace` holds at most a fixed number of bytes, like a container's disk,
 * and a full disk is the sandbox's problem (ENOSPC inside), never the host's.
 *
 * - As root: a sparse ext4 image per sandbox (a copy of one made at start), mounted in a mount namespace that only the sandbox's
 *   processes hold (see container.ts). The host's disk holds at most the image's size; when the
 *   last process ends, the kernel unmounts it and frees its loop device, even after a SIGKILL.
 * - As a normal user, who cannot mount a disk: a tmpfs of the quota's size. It lives in memory,
 *   and counts against the sandbox's memory limit where cgroups are enforced.
 */
import { open } from 'node:fs/promises';
import { runTool } from './host-tools.ts';

/**
 * The empty disk every sandbox's is copied from, made once per run: a sparse copy takes no time,
 * where mkfs.ext4 costs each boot ~20–50 ms. No journal and lazy tables: a disk lives as long as
 * its sandbox. Its root directory is given to the sandbox's uid once mounted (container.ts).
 */
export async function createDiskTemplate(path: string, bytes: number): Promise<void> {
	const file = await open(path, 'wx', 0o600);
	await file.truncate(bytes).finally(() => file.close());
	await runTool('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard,lazy_itable_init=1', path]);
}

/** A sandbox's own disk: a sparse copy of the template (only its few written blocks are copied). */
export function copyDisk(template: string, path: string): Promise<void> {
	return runTool('cp', ['--sparse=always', template, path]);
}
