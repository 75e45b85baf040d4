import { ActivityHandler } from 'botbuilder'
import { defineBot } from '../../../../core/contract/index.js'

/** Test bot: takes `delayMs` over each turn, then answers `slow: <text>`. Counts started turns. */
export const started: string[] = []

export default defineBot({
  name: 'slow',
  create: ({ options }) => {
    const delayMs = typeof options.delayMs === 'number' ? options.delayMs : 500
    const handler = new ActivityHandler()
    handler.onMessage(async (context, next) => {
      started.push(context.activity.text ?? '')
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      await context.sendActivity(`slow: ${context.activity.text ?? ''}`)
      await next()
    })
    return handler
  },
})
