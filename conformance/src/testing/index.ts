/**
 * `@micro-ts/conformance/testing` — what every plugin's own tests share: one private-server
 * launcher (subclass per backend), the skip-or-fail rule, the address variables, and the
 * assertion helpers the suites use. See README.md beside this file.
 */
export { probeBackend } from '../backend.js'
export { inCI } from '../suite.js'
export {
  Cleanup,
  describeError,
  type ErrorShape,
  eventually,
  expectMicroError,
  isMicroErrorShape,
  RUN_ID,
  sleep,
  uniqueName,
} from '../util.js'
export { requireBackend, requireThat, testAddress } from './backends.js'
export { type TestCertificates, testCertificates } from './certificates.js'
export { expectReadmeOptions, optionsTableOf } from './docs.js'
export { type LogLine, type RecordingLogger, recordingLogger } from './logger.js'
export {
  canConnect,
  deadAddress,
  freePort,
  hasCommand,
  type LaunchSpec,
  PrivateServer,
  type PrivateServerOptions,
  silentServer,
  suspendProcess,
  systemUser,
} from './server.js'
