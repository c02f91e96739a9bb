#!/usr/bin/env node
/** The `micro` command. */
import { main } from './program.js'

const code = await main(process.argv.slice(2))
// Components (a registry's watch, pooled sockets) may keep the loop alive after the command is done.
process.exit(code)
