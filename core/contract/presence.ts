/**
 * Parley's one availability model. `unknown` means Parley cannot say (no
 * authorised subscription, or the connection that carried it is down): it is
 * never reported as `available`.
 */
export const AVAILABILITIES = ['available', 'away', 'busy', 'dnd', 'offline', 'unknown'] as const
export type Availability = (typeof AVAILABILITIES)[number]
