/**
 * The coordinator's half of a visitor's saved edits (saved-edits.ts keeps them): the app's files
 * are backed up when an edited sandbox stops, and restored as a step of the visitor's next start
 * of the template.
 */
import { spokenAgo } from '../../durations';
import type { Sandbox } from '../sandbox/types';
import { APP_DIR } from '../source-files';
import type { RestoreStep } from './boot';
import type { SavedEditsApi } from './contract';
import { MAX_EDITS_BYTES } from './saved-edits';

export interface EditsOwner {
	/** The sandbox's ID and template. */
	id: string;
	template: string;
	/** When the sandbox started: a clean start of the template since refuses its edits. */
	startedAt: number;
}

/**
 * Backs up the app's files (without node_modules, which the template provides) into the visitor's
 * saved edits, kept for `ttlMs` unless used. Too big, or failing, they are not kept. True if they
 * were kept.
 */
export async function backUpEdits(sandbox: Sandbox, store: SavedEditsApi, owner: EditsOwner, ttlMs: number): Promise<boolean> {
	const { id, template, startedAt } = owner;
	try {
		// Measured first, so that a big app is not archived for nothing (the archive is measured too).
		const size = await sandbox.exec(`du -s -B1 --exclude=node_modules ${APP_DIR}`, { timeout: 10_000 });
		const bytes = Number.parseInt(size.stdout, 10);
		if (!size.success || !(bytes <= MAX_EDITS_BYTES)) {
			console.warn(`[edits] the edits of ${id} are not saved: ${size.success ? `${bytes} bytes is over ${MAX_EDITS_BYTES}` : size.stderr}`);
			return false;
		}
		const backup = await sandbox.createBackup({ dir: APP_DIR, excludes: ['node_modules'], ttlSeconds: ttlMs / 1000 });
		const savedAt = Date.now();
		const outcome = await store.keep({ template, backup: { ...backup }, savedAt, expiresAt: savedAt + ttlMs }, startedAt);
		console.log(`[edits] the edits of ${id} ${outcome.kept ? 'are saved' : `are not saved: ${outcome.reason}`}`);
		return outcome.kept;
	} catch (error) {
		console.error(`[edits] saving the edits of ${id} failed`, error);
		return false;
	}
}

/** The boot step that brings back the visitor's saved edits of `template`, if they have any. */
export async function restoreStep(sandbox: Sandbox, store: SavedEditsApi, template: string, restored: () => void): Promise<RestoreStep | null> {
	const saved = await store.latest(template).catch((error) => {
		console.error('[edits] looking for saved edits failed', error);
		return null;
	});
	if (!saved) return null;
	return {
		label: `Restoring your edits from ${spokenAgo(Date.now() - saved.savedAt)}`,
		restore: async () => {
			await sandbox.restoreBackup(saved.backup);
			restored();
		}
	};
}
