/**
 * A full machine (each target's engine runs two sandboxes, reclaimable after RECLAIM_AFTER_SECONDS
 * unused), as the third visitor meets it: with both sandboxes in use, the start form's answer
 * (503, every sandbox busy); once they have gone unused past the grace, form posted → preview first
 * byte, reclaiming one of them on the way; and beside it, the same boot on a machine with room.
 */
import { noSandboxesLeft } from './processes.ts';
import { pairRow, tick, type Row } from './stats.ts';
import { TARGET_NAMES, withTargets, type Target, type TargetName } from './targets.ts';
import { toPreview, Visitor, type Boot } from './visitor.ts';

const RECLAIM_AFTER_SECONDS = 2;

interface Run {
	/** The first visitor's boot, with a free slot. */
	withRoom: Boot;
	busyMs: number;
	reclaiming: Boot;
}

async function run(port: number): Promise<Run> {
	const [first, second, third] = [new Visitor(port), new Visitor(port), new Visitor(port)];
	try {
		for (const visitor of [first, second, third]) await visitor.openHome();
		const withRoom = await first.boot('express');
		await second.boot('express');
		// Both were used a moment ago (their state was read until ready, their preview fetched).
		const busyMs = await third.startRefused('express');
		await new Promise((resolve) => setTimeout(resolve, RECLAIM_AFTER_SECONDS * 1000 + 500));
		const reclaiming = await third.boot('express');
		return { withRoom, busyMs, reclaiming };
	} finally {
		for (const visitor of [first, second, third]) {
			await visitor.stop();
			visitor.close();
		}
		await noSandboxesLeft();
	}
}

export async function benchCapacity(runs: number): Promise<Row[]> {
	const results = await withTargets(
		async (targets: Record<TargetName, Target>) => {
			const byTarget = Object.fromEntries(TARGET_NAMES.map((name) => [name, [] as Run[]])) as Record<TargetName, Run[]>;
			// Unmeasured: workerd loads the app and the Durable Object classes on first use.
			for (const name of TARGET_NAMES) await run(targets[name].port);
			for (let i = 0; i < runs; i++) {
				for (const name of TARGET_NAMES) byTarget[name].push(await run(targets[name].port));
				tick();
			}
			return byTarget;
		},
		{ sandboxMax: 2, env: { SANDBOX_RECLAIM_AFTER_SECONDS: String(RECLAIM_AFTER_SECONDS) } }
	);
	const { dev, preview } = results;
	return [
		pairRow('with room: form posted → preview first byte', dev.map((r) => toPreview(r.withRoom)), preview.map((r) => toPreview(r.withRoom))),
		pairRow('full, all in use: form posted → "busy" (503)', dev.map((r) => r.busyMs), preview.map((r) => r.busyMs)),
		pairRow('full, one unused: form posted → preview (reclaiming it)', dev.map((r) => toPreview(r.reclaiming)), preview.map((r) => toPreview(r.reclaiming)))
	];
}
