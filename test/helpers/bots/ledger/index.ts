import { appendFileSync } from 'node:fs'
import { ActivityHandler } from 'botbuilder'
import { defineBot } from '../../../../core/contract/index.js'

/**
 * Test bot for the fault-injection suite (test/faults): every turn it is
 * given is first written to `options.file` (one line: the message text, which
 * carries the sender's message id), synchronously, so the ledger survives a
 * kill -9 of the host and counts what the bot saw, duplicates included (it
 * never de-duplicates). Then it answers `echo: <text>`, except for texts that
 * ask it to fail: `throw …` throws, `hang …` never finishes its turn.
 */
export default defineBot({
  name: 'ledger',
  create: ({ options }) => {
    const file = typeof options.file === 'string' ? options.file : undefined
    if (!file) throw new Error('ledger bot: options.file is required')
    const handler = new ActivityHandler()
    handler.onMessage(async (context, next) => {
      const text = context.activity.text ?? ''
      appendFileSync(file, `${text.replace(/\n/g, ' ')}\n`)
      if (text.startsWith('throw ')) throw new Error(`ledger bot asked to throw: ${text}`)
      if (text.startsWith('hang ')) await new Promise(() => {})
      await context.sendActivity(`echo: ${text}`)
      await next()
    })
    return handler
  },
})
