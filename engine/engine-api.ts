/**
 * The container API over HTTP, for the Durable Objects in workerd (workerd/engine-container.ts):
 *
 *   PUT    /v1/containers/{name}            { env?, enableInternet?, label? }  start; answers once it runs
 *   GET    /v1/containers/{name}            { running, exitCode }
 *   GET    /v1/containers/{name}/exit       answers { exitCode } when the container stops
 *   POST   /v1/containers/{name}/signal     { signal }                 to its first process
 *   POST   /v1/containers/{name}/ports/{n}  { hostPort, token }        127.0.0.1:hostPort leads to n, for requests naming the token
 *   DELETE /v1/containers/{name}            destroy
 *
 * The engine's server (server.ts) checks the Host and the bearer secret before any of this.
 */
import type { IncomingMessage } from 'node:http';
import * as v from 'valibot';
import type { ContainerEngine } from './engine.ts';
import { RuntimeError, parseRequest as parse } from './errors.ts';

/** workerd names a container after its Durable Object's ID; tests may use readable names. */
const ContainerName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,128}$/, 'a container name is 1–128 letters, digits, "_" or "-"'));
const EnvName = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'not an environment variable name'));
/** What a process's environment can carry (Linux takes 2 MiB of arguments and environment in all). */
const MAX_ENV_BYTES = 1024 * 1024;
const StartBody = v.object({
	env: v.optional(
		v.pipe(
			v.record(EnvName, v.pipe(v.string(), v.regex(/^[^\0]*$/, 'an environment variable cannot hold a NUL character'))),
			v.check((env) => Object.keys(env).length <= 256, 'at most 256 environment variables'),
			v.check(
				(env) => Object.entries(env).reduce((size, [name, value]) => size + Buffer.byteLength(name) + Buffer.byteLength(value) + 2, 0) <= MAX_ENV_BYTES,
				'the environment variables take more than 1 MiB'
			)
		),
		{}
	),
	enableInternet: v.optional(v.boolean(), true),
	/** What people and logs know the container by (the Durable Object's name, when it has one). */
	label: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a label is 1–128 letters, digits, "_", "." or "-"')))
});
const SignalBody = v.object({ signal: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64)) });
const Port = v.pipe(v.string(), v.regex(/^\d{1,5}$/), v.transform(Number), v.integer(), v.minValue(1), v.maxValue(65535));

export async function handleContainerCall(engine: ContainerEngine, req: IncomingMessage, segments: string[], body: () => Promise<unknown>) {
	const name = parse(ContainerName, segments[0], 'container name');
	const [action, arg] = segments.slice(1);
	const route = `${req.method} ${action ?? ''}${arg === undefined ? '' : ' *'}`;
	switch (route) {
		case 'PUT ': {
			const { env, enableInternet, label } = parse(StartBody, await body());
			await engine.start(name, { env, enableInternet, label: label ?? name });
			return engine.status(name);
		}
		case 'GET ':
			return engine.status(name);
		case 'GET exit':
			return { exitCode: await engine.waitForExit(name) };
		case 'POST signal':
			await engine.signal(name, parse(SignalBody, await body()).signal);
			return {};
		case 'POST ports *':
			return engine.port(name, parse(Port, arg, 'port'));
		case 'DELETE ':
			await engine.destroy(name);
			return {};
		default:
			throw new RuntimeError('NOT_FOUND', `No such endpoint: ${req.method} ${req.url}`);
	}
}
