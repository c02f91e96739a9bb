// Every definition core builds in, held to what a plugin's definition promises.
import { builtInPlugins } from '@micro-ts/core'
import { pluginDefinitionConformance } from '../src/index.js'

for (const definition of builtInPlugins()) pluginDefinitionConformance(definition)
