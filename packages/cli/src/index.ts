/**
 * @micro-ts/cli — the `micro` command, also usable as a library: `main(argv)` runs it, and the
 * pieces (`commandEnv`, `render` for `micro new`, `resolveTarget` for `micro run`) are exported
 * for tools built around it.
 */
export { type ApiFlags, gatewayBanner, type RunningGateway, startGateway } from './commands/api.js'
export { parseHeaders } from './commands/call.js'
export { describeText } from './commands/inspect.js'
export { handlerName, type NewFlags, newCommand, render } from './commands/new.js'
export { type RunFlags, type RunTarget, resolveTarget, run } from './commands/run.js'
export { addGlobalFlags, commandEnv, GLOBAL_FLAGS } from './env.js'
export { CLI_ERROR_ID, errorJson, type Output, stdio, table } from './output.js'
export { type MainOptions, main, program } from './program.js'
export { PLUGINS, TEMPLATES, type TemplateName } from './templates/common.js'
