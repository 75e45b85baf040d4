import { type Activity, ActivityHandler } from 'botbuilder'
import { contacts, defineBot } from '../../../../core/contract/index.js'

/**
 * Test bot: records every activity it is given; on a contact request
 * (`contactRelationUpdate`, action `add`) it does what `options.decide`
 * says: `approve`, `refuse`, or nothing (`none`, the default). A message
 * `watch <address>` makes it watch that address.
 */
export const seen: Partial<Activity>[] = []

export default defineBot({
  name: 'watcher',
  create: ({ options }) => {
    const decide = typeof options.decide === 'string' ? options.decide : 'none'
    const handler = new ActivityHandler()
    handler.onTurn(async (context, next) => {
      seen.push({ ...context.activity })
      await next()
    })
    // ActivityHandler has no method of its own for contactRelationUpdate.
    handler.onUnrecognizedActivityType(async (context, next) => {
      if (context.activity.type === 'contactRelationUpdate' && context.activity.action === 'add') {
        if (decide === 'approve') await contacts.approve(context)
        else if (decide === 'refuse') await contacts.refuse(context)
      }
      await next()
    })
    handler.onMessage(async (context, next) => {
      const match = /^watch (.+)$/.exec(context.activity.text ?? '')
      if (match?.[1]) {
        await contacts.watch(context, match[1])
        await context.sendActivity(`watching ${match[1]}`)
      }
      await next()
    })
    return handler
  },
})
