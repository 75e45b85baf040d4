/**
 * Import direction (checked by `npm run check:imports`, part of `npm test`):
 * plugins and bots may import only core/contract from the project; the core
 * loads them by dynamic import() of names in config and never imports them.
 */
module.exports = {
  forbidden: [
    {
      name: 'plugins-only-contract',
      comment: 'plugins/* may import only core/contract from the core',
      severity: 'error',
      from: { path: '^plugins/' },
      to: { path: '^core/', pathNot: '^core/contract/' },
    },
    {
      name: 'bots-only-contract',
      comment: 'bots/* may import only core/contract from the core',
      severity: 'error',
      from: { path: '^bots/' },
      to: { path: '^core/', pathNot: '^core/contract/' },
    },
    {
      name: 'core-never-imports-plugins-or-bots',
      comment: 'the core loads plugins and bots by dynamic import() of config names',
      severity: 'error',
      from: { path: '^core/' },
      to: { path: '^(plugins|bots)/' },
    },
    {
      name: 'plugins-not-each-other',
      comment:
        'a plugin does not import another plugin (a profile plugin configures the sip edge through the contract)',
      severity: 'error',
      from: { path: '^plugins/([^/]+)/' },
      to: { path: '^plugins/', pathNot: '^plugins/$1/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
}
