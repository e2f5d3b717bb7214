/**
 * Running the host's system tools for a sandbox (mkfs.ext4, nsenter, …): with an environment of
 * their own — nothing of the engine's reaches them, nor through them a sandbox.
 */
import { spawn } from 'node:child_process';

const PATH: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
/**
 * The whole environment of every host-side process of a sandbox. (A cast: the types wrangler
 * generates for the app make the app's own variables required in every ProcessEnv.)
 */
export const HOST_TOOLS_ENV = PATH as NodeJS.ProcessEnv;

/** Runs a tool to its end, with `input` on its stdin; rejects with its stderr unless it exits 0. */
export function runTool(command: string, args: string[], input = ''): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'], env: HOST_TOOLS_ENV, cwd: '/' });
		let errors = '';
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
		child.stdin.on('error', () => {}); // a tool that exits early: reported by its exit code
		child.on('error', reject);
		child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} failed (${code}): ${errors.trim()}`))));
		child.stdin.end(input);
	});
}
