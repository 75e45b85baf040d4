import { ActivityHandler } from 'botbuilder'
import { Type } from 'typebox'
import { defineBot } from '../../core/contract/index.js'

/** Answers every message with `echo: <text>`. The smallest useful Parley bot. */
export class EchoBot extends ActivityHandler {
  constructor(prefix: string) {
    super()
    this.onMessage(async (context, next) => {
      await context.sendActivity(`${prefix}${context.activity.text ?? ''}`)
      await next()
    })
  }
}

export default defineBot({
  name: 'echo',
  configSchema: Type.Object(
    { prefix: Type.String({ maxLength: 256, default: 'echo: ' }) },
    { additionalProperties: false },
  ),
  create: ({ options }) => new EchoBot(String(options.prefix)),
})
