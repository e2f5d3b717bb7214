/**
 * The launch: from the command (`node dev/dev.ts`; `node dev/preview.ts`, whose `vite build` is
 * done once beforehand and not counted) to the start page served, with what a second launch on
 * this machine has cached (Vite's dependency cache). Each target is stopped, and checked to have
 * left nothing, before the next launch; dev and preview alternate.
 */
import { pairRow, type Row } from './stats.ts';
import { startTarget, TARGET_NAMES, type TargetName } from './targets.ts';

/** `npm run dev` says when the engine and the companion serve (dev/dev.ts); vite dev starts alongside. */
const COMPANION_UP = /\[dev\] the engine and the companion worker are up after (\d+) ms/;

export async function benchLaunch(runs: number): Promise<Row[]> {
	const launch: Record<TargetName, number[]> = { dev: [], preview: [] };
	const companionUp: number[] = [];
	for (let run = 0; run < runs; run++) {
		for (const name of TARGET_NAMES) {
			const { target, stop } = await startTarget(name, {});
			launch[name].push(target.launchMs);
			const up = COMPANION_UP.exec(target.output());
			if (name === 'dev' && up) companionUp.push(Number(up[1]));
			await stop();
			process.stderr.write(`launch ${run + 1}/${runs} ${name}: ${target.launchMs.toFixed(0)} ms\n`);
		}
	}
	return [
		pairRow('command → start page served (200)', launch.dev, launch.preview),
		pairRow('  the engine and the companion worker up, meanwhile (dev)', companionUp, [])
	];
}
