/**
 * The SIP wire corpus: every case. The replay order is by `via`: the edge's
 * TCP and UDP listeners, then Kamailio, then the subscription dialog (in
 * array order, its last case the valid control).
 */
import type { SipCase } from './case.js'
import { dialogCases } from './dialog.js'
import { kamailioCases } from './kamailio.js'
import { bodyCases, inviteCases, subscribeCases } from './methods.js'
import { contentLengthCases, headerCases, startLineCases } from './requests.js'
import { tcpStreamCases, udpCases } from './transport.js'

export type { SipCase, SipCaseContext, SipExpectation } from './case.js'
export { FINAL_NOTE } from './dialog.js'

export const sipCorpus: readonly SipCase[] = [
  ...startLineCases,
  ...headerCases,
  ...contentLengthCases,
  ...bodyCases,
  ...subscribeCases,
  ...inviteCases,
  ...tcpStreamCases,
  ...udpCases,
  ...kamailioCases,
  ...dialogCases,
]
