/**
 * A sandbox's disk: `/workspace` holds at most a fixed number of bytes, like a container's disk,
 * and a full disk is the sandbox's problem (ENOSPC inside), never the host's.
 *
 * - As root: a sparse ext4 image per sandbox, mounted in a mount namespace that only the sandbox's
 *   processes hold (see container.ts). The host's disk holds at most the image's size; when the
 *   last process ends, the kernel unmounts it and frees its loop device, even after a SIGKILL.
 * - As a normal user, who cannot mount a disk: a tmpfs of the quota's size. It lives in memory,
 *   and counts against the sandbox's memory limit where cgroups are enforced.
 */
import { open } from 'node:fs/promises';
import { runTool } from './host-tools.ts';

/** Makes an empty ext4 image of `bytes` at `path`, whose root directory `owner` owns. */
export async function createDiskImage(path: string, bytes: number, owner: number): Promise<void> {
	const file = await open(path, 'wx', 0o600);
	await file.truncate(bytes).finally(() => file.close());
	// No journal and lazy tables: the disk lives as long as its sandbox, and is made in ~10 ms.
	const options = `root_owner=${owner}:${owner},nodiscard,lazy_itable_init=1`;
	await runTool('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', options, path]);
}
