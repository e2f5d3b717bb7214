/**
 * A visitor's saved edits: one Durable Object per visitor (`visitor:{id}`), which remembers, per
 * template, the backup of the app's files that their last edited sandbox of it left when it stopped
 * (coordinator.ts makes it with the SDK's `createBackup`, into the BACKUP_BUCKET R2 bucket). The
 * next start of that template restores it.
 *
 * Bounded: one backup per template (a newer one replaces it, and the older archive is deleted), of
 * at most MAX_EDITS_BYTES each (the coordinator measures the files before it backs them up; the
 * archive is measured again here, as the app may have written more meanwhile). Expiring: a backup
 * unused for SAVED_EDITS_DAYS (default 7) is forgotten and its archive deleted, by this object's
 * alarm. "Start clean" forgets a template's backup, and refuses any backup of a sandbox started
 * before it (one that was still running, whose stop comes later).
 */
import { DurableObject } from 'cloudflare:workers';
import * as v from 'valibot';
import type { KeepOutcome, SavedEdit, SavedEditsApi } from './contract';

/** The part of workerd's R2 binding this object uses. */
export interface BackupBucket {
	list(options: { prefix: string }): Promise<{ objects: { key: string; size: number }[] }>;
	delete(keys: string[]): Promise<void>;
}

export interface SavedEditsEnv {
	/** Where the SDK keeps backups (its `localBucket` mode; the binding name is the SDK's). */
	BACKUP_BUCKET?: BackupBucket;
	/** How long saved edits are kept unused (default 7). */
	SAVED_EDITS_DAYS?: string;
}

const Days = v.pipe(v.optional(v.string(), '7'), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(365));

/** How long saved edits are kept unused, in ms. */
export const savedEditsTtlMs = (env: Pick<SavedEditsEnv, 'SAVED_EDITS_DAYS'>) => v.parse(Days, env.SAVED_EDITS_DAYS) * 86_400_000;

/** The most an app's files (without node_modules) may weigh to be saved. */
export const MAX_EDITS_BYTES = 16 * 1024 * 1024;

interface Stored {
	/** By template. */
	edits: Record<string, SavedEdit>;
	/** By template: when the visitor last asked to start it clean. */
	cleanAt: Record<string, number>;
}

export class SavedEdits extends DurableObject<SavedEditsEnv> implements SavedEditsApi {
	private stored: Stored = { edits: {}, cleanAt: {} };

	constructor(ctx: ConstructorParameters<typeof DurableObject<SavedEditsEnv>>[0], env: SavedEditsEnv) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.stored = (await ctx.storage.get<Stored>('stored')) ?? this.stored;
		});
	}

	async keep(edit: SavedEdit, sandboxStartedAt: number): Promise<KeepOutcome> {
		const refusal = sandboxStartedAt < (this.stored.cleanAt[edit.template] ?? 0) ? 'its visitor started the template clean since' : await this.oversize(edit);
		if (refusal) {
			await this.deleteArchive(edit);
			return { kept: false, reason: refusal };
		}
		const replaced = this.stored.edits[edit.template];
		this.stored.edits[edit.template] = edit;
		await this.save();
		if (replaced && replaced.backup.id !== edit.backup.id) await this.deleteArchive(replaced);
		return { kept: true };
	}

	async latest(template: string): Promise<SavedEdit | null> {
		const edit = this.stored.edits[template];
		return edit && edit.expiresAt > Date.now() ? edit : null;
	}

	async list(): Promise<SavedEdit[]> {
		return Object.values(this.stored.edits).filter((edit) => edit.expiresAt > Date.now());
	}

	async discard(template: string): Promise<void> {
		const edit = this.stored.edits[template];
		delete this.stored.edits[template];
		this.stored.cleanAt[template] = Date.now();
		await this.save();
		if (edit) await this.deleteArchive(edit);
	}

	/** Forgets what has expired, with its archive. */
	async alarm() {
		const now = Date.now();
		for (const edit of Object.values(this.stored.edits)) {
			if (edit.expiresAt > now) continue;
			delete this.stored.edits[edit.template];
			await this.deleteArchive(edit);
		}
		await this.save();
	}

	private async save() {
		// A clean start matters only against a sandbox that was running then: none outlives a day.
		const dayAgo = Date.now() - 86_400_000;
		for (const [template, at] of Object.entries(this.stored.cleanAt)) if (at < dayAgo) delete this.stored.cleanAt[template];
		const edits = Object.values(this.stored.edits);
		if (edits.length === 0 && Object.keys(this.stored.cleanAt).length === 0) {
			await this.ctx.storage.deleteAll();
			return;
		}
		await this.ctx.storage.put('stored', this.stored);
		const next = Math.min(...edits.map((edit) => edit.expiresAt), ...Object.values(this.stored.cleanAt).map((at) => at + 86_400_000));
		await this.ctx.storage.setAlarm(next);
	}

	/** Why the backup is too big to keep, if it is. */
	private async oversize(edit: SavedEdit): Promise<string | null> {
		const objects = await this.objectsOf(edit);
		if (!objects) return null; // no bucket here: nothing was stored
		const bytes = objects.reduce((sum, object) => sum + object.size, 0);
		return bytes > MAX_EDITS_BYTES ? `its archive, ${bytes} bytes, is over ${MAX_EDITS_BYTES}` : null;
	}

	private async deleteArchive(edit: SavedEdit) {
		try {
			const objects = await this.objectsOf(edit);
			if (objects && objects.length > 0) await this.env.BACKUP_BUCKET!.delete(objects.map((object) => object.key));
		} catch (error) {
			console.error(`[saved-edits] deleting the backup ${edit.backup.id} failed`, error);
		}
	}

	/** The SDK keeps a backup's objects under `backups/{id}/` (the prefix its docs name for R2 lifecycle rules). */
	private async objectsOf(edit: SavedEdit) {
		const bucket = this.env.BACKUP_BUCKET;
		return bucket ? (await bucket.list({ prefix: `backups/${edit.backup.id}/` })).objects : null;
	}
}
