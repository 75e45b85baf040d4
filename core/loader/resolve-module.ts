import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * Turns a configured module reference into something `import()` takes:
 * paths (`./x`, `/x`) are resolved against the project root; anything else
 * is a package name. Undefined means the default folder (`plugins/<name>`).
 */
export function moduleSpecifier(
  rootDir: string,
  kind: 'plugins' | 'bots',
  name: string,
  module?: string,
): string {
  const ref = module ?? `./${kind}/${name}/index.ts`
  if (ref.startsWith('.') || isAbsolute(ref)) return pathToFileURL(resolve(rootDir, ref)).href
  return ref
}

/** `import()` of a module's default export. */
export async function importDefault(specifier: string): Promise<unknown> {
  const mod = (await import(specifier)) as { default?: unknown }
  return mod.default ?? mod
}
