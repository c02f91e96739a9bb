/** The greeter service (`node dist/service.js`): plugins named in MICRO_* are imported by name. */
import { runGreeter } from './run.js'

await runGreeter()
