/** The in-memory test network without a declared `networkKind` (what a careless plugin would be). */
import fake from './index.js'

const { networkKind: _kind, ...rest } = fake
export default { ...rest }
