import { ActivityHandler } from 'botbuilder'
import { defineBot } from '../../../../core/contract/index.js'

/**
 * Test bot: counts every turn it is given (per message text), runs the
 * test's `during` hook inside the turn (e.g. to cut the database), then
 * answers `outage: <text>`.
 */
export const turns = new Map<string, number>()
export const hooks: { during?: (text: string) => void | Promise<void> } = {}

export default defineBot({
  name: 'outage',
  create: () => {
    const handler = new ActivityHandler()
    handler.onMessage(async (context, next) => {
      const text = context.activity.text ?? ''
      turns.set(text, (turns.get(text) ?? 0) + 1)
      await hooks.during?.(text)
      await context.sendActivity(`outage: ${text}`)
      await next()
    })
    return handler
  },
})
