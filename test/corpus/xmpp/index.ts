/**
 * The XMPP wire corpus: every case, in replay order (the sender's session
 * first, then the cases that need a session of their own).
 */
import type { XmppCase } from './case.js'
import { messageCases } from './messages.js'
import { iqCases, presenceCases } from './presence-iq.js'
import { streamCases } from './streams.js'

export type { XmppCase, XmppCaseContext, XmppExpectation } from './case.js'

export const xmppCorpus: readonly XmppCase[] = [
  ...messageCases,
  ...presenceCases,
  ...iqCases,
  ...streamCases,
]
