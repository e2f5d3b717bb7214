/**
 * The app, run as the e2e suite runs it (tests/e2e/app-server.ts): `vite dev` on 5173, the built
 * worker in workerd (`npm run preview`) on 8787. Those fixed ports are the e2e suite's too, so a
 * target refuses to start while something else holds its port: its readiness check would
 * otherwise pass against the other server, and the bench would measure that.
 */
import { spawnSync } from 'node:child_process';
import { TARGETS, startTarget } from '../e2e/app-server.ts';
import { portTaken } from './http.ts';

export type TargetName = keyof typeof TARGETS;
export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

let built = false;

/** Runs `use` with the target up (its port as argument), and stops it after, sandboxes and all. */
export async function withTarget<T>(name: TargetName, use: (port: number) => Promise<T>): Promise<T> {
	const { port } = TARGETS[name];
	if (await portTaken(port)) throw new Error(`Port ${port} is in use (the e2e suite?): run the bench once it is free`);
	if (name === 'worker' && !built) {
		const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { stdio: 'ignore' });
		if (build.status !== 0) throw new Error('vite build failed');
		built = true;
	}
	const stop = await startTarget(name);
	try {
		return await use(port);
	} finally {
		await stop();
	}
}
