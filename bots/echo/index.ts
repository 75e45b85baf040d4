import { ActivityHandler } from 'botbuilder'
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
  create: ({ options }) =>
    new EchoBot(typeof options.prefix === 'string' ? options.prefix : 'echo: '),
})
