#!/usr/bin/env node
// A committed entry point, so package managers can link the bin before the build runs.
import '../dist/cli.js'
