/**
 * The container control server: runs inside every local sandbox and speaks the HTTP protocol of
 * @cloudflare/sandbox 0.12.10's container (the one its `Sandbox` Durable Object uses to reach the
 * control server inside Cloudflare's container image), so that the SDK can drive a local sandbox
 * as it drives a real container.
 *
 *   SANDBOX_CONTROL_PORT        port to listen on (default 3000, the SDK's)
 *   SANDBOX_CONTROL_WORKSPACE   default working directory (default /workspace)
 *   COMMAND_TIMEOUT_MS          default timeout of session commands (default none), as in the image
 *
 * Once listening it prints exactly `control server ready` on stdout; everything else it says goes
 * to stderr. Commands inherit its environment.
 */
import { createServer } from 'node:http';
import { createApp } from './app.ts';
import { Terminals } from './terminals.ts';

const SDK_VERSION = '0.12.10';
const READY_LINE = 'control server ready';

const port = Number(process.env.SANDBOX_CONTROL_PORT ?? 3000);
const workspace = process.env.SANDBOX_CONTROL_WORKSPACE ?? '/workspace';
const commandTimeoutMs = Number(process.env.COMMAND_TIMEOUT_MS ?? 0) || undefined;

const app = createApp({ workspace, version: SDK_VERSION, commandTimeoutMs });
const server = createServer({ shouldUpgradeCallback: Terminals.wantsUpgrade }, (req, res) => void app.router.handle(req, res));
server.on('upgrade', (req, socket, head) => app.terminals.handleUpgrade(req, socket, head));
// Streams (logs, port watches) stay open as long as their process runs; no request timeout cuts them.
server.requestTimeout = 0;
server.headersTimeout = 60_000;

server.on('error', (error) => {
	// Once listening, an error is one failed accept (too many open files): that connection's loss only.
	if (server.listening) return console.error(`[control] ${error.message}`);
	console.error(`[control] cannot listen on port ${port}: ${error.message}`);
	process.exit(1);
});
server.listen(port, '0.0.0.0', () => process.stdout.write(`${READY_LINE}\n`));

let stopping = false;
async function stop(signal: NodeJS.Signals) {
	if (stopping) return;
	stopping = true;
	console.error(`[control] ${signal}: stopping`);
	server.close();
	server.closeAllConnections();
	await app.shutdown().catch((error) => console.error('[control] shutdown:', error));
	process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// Whatever ends the server, the process groups it started end with it.
process.on('exit', () => app.killEverythingNow());
process.on('uncaughtException', (error) => {
	console.error('[control] uncaught exception:', error);
	process.exit(1);
});
process.on('unhandledRejection', (reason) => console.error('[control] unhandled rejection:', reason));
