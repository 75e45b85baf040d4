import { ActivityHandler } from 'botbuilder'
import { defineBot } from '../../../../core/contract/index.js'

/** Test bot: throws on the first `failures` turns of each text, then echoes. Counts turns. */
export const turns = new Map<string, number>()

export default defineBot({
  name: 'flaky',
  create: ({ options }) => {
    const failures = typeof options.failures === 'number' ? options.failures : 1
    const handler = new ActivityHandler()
    handler.onMessage(async (context, next) => {
      const text = context.activity.text ?? ''
      const n = (turns.get(text) ?? 0) + 1
      turns.set(text, n)
      if (n <= failures) throw new Error(`flaky bot failure ${n}`)
      await context.sendActivity(`ok: ${text}`)
      await next()
    })
    return handler
  },
})
