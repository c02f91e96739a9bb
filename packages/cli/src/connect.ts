/**
 * The CLI's own connection to the system: a service that never starts its server, made by
 * createService from the same MICRO_* variables (and flags) the services read, so the command
 * finds, calls and watches exactly what they see.
 */
import { createService, type MicroService } from '@micro-ts/core'

export async function connect(
  env: Record<string, string | undefined>,
  name = 'micro.cli',
): Promise<MicroService> {
  return createService({
    name,
    // The CLI's output is its answer: the components' logs only say something when asked.
    env: { MICRO_LOG_LEVEL: 'error', ...env, MICRO_SERVER_NAME: undefined },
    logFormat: 'json',
  })
}

/** Run `fn` with a connection, and close it whatever happens. */
export async function withService<T>(
  env: Record<string, string | undefined>,
  fn: (s: MicroService) => Promise<T>,
): Promise<T> {
  const service = await connect(env)
  try {
    return await fn(service)
  } finally {
    await service.stop().catch(() => {})
  }
}
