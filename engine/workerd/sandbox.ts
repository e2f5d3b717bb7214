/**
 * The SDK's own `Sandbox` Durable Object, unchanged, with a container from the local engine when
 * workerd has no container runtime (`wrangler dev --enable-containers=false`: no Docker engine).
 * workerd then leaves `ctx.container` undefined, as a writable property: it is set here before the
 * SDK's constructor reads it. (A Proxy around `ctx` is refused by workerd's constructor checks.)
 */
import { Sandbox as SdkSandbox } from '@cloudflare/sandbox';
import { EngineContainer } from './engine-container.ts';

interface EngineEnv {
	/** Set by `npm run preview` and the tests (see dev/preview.ts). */
	SANDBOX_ENGINE_URL?: string;
	SANDBOX_ENGINE_SECRET?: string;
}

type State = ConstructorParameters<typeof SdkSandbox>[0] & { container?: unknown };

export class Sandbox extends SdkSandbox {
	constructor(ctx: State, env: EngineEnv) {
		if (ctx.container === undefined) {
			const { SANDBOX_ENGINE_URL: url, SANDBOX_ENGINE_SECRET: secret } = env;
			if (!url || !secret) {
				throw new Error(
					'This worker has no container runtime: start it with `npm run preview`, which runs the local container ' +
						'engine (or a Docker engine, when one is running).'
				);
			}
			const container = new EngineContainer({ url, secret }, ctx.id.toString(), ctx.id.name);
			ctx.container = container;
			void ctx.blockConcurrencyWhile(() => container.attach());
		}
		super(ctx, env as ConstructorParameters<typeof SdkSandbox>[1]);
	}
}
