/**
 * The arrows of STYLE.md's picture, enforced:
 *   cli -> client (HTTP only) ; api -> workflows(messages) ; workflows -> activities (types only) ; activities -> domain, ports
 *   adapters -> ports, domain ; domain -> nothing ; main wires everything.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain imports nothing from the rest of the project, and no packages.',
      severity: 'error',
      from: { path: '^src/domain' },
      to: { pathNot: '^src/domain' },
    },
    {
      name: 'ports-only-domain',
      severity: 'error',
      from: { path: '^src/ports' },
      to: { path: '^src/(activities|adapters|api|cli|main)' },
    },
    {
      name: 'adapters-not-inward-beyond-ports',
      severity: 'error',
      from: { path: '^src/adapters' },
      to: { path: '^src/(activities|api|cli|main)' },
    },
    {
      name: 'activities-not-outward',
      severity: 'error',
      from: { path: '^src/activities' },
      to: { path: '^src/(adapters|api|cli|main|workflows)' },
    },
    {
      name: 'workflows-use-activities-as-types-only',
      severity: 'error',
      from: { path: '^src/workflows' },
      to: { path: '^src/(activities|adapters|api|cli|main)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'api-cli-no-adapters-or-activities',
      comment: 'The API and CLI reach the engine and the store through ports; main wires the adapters.',
      severity: 'error',
      from: { path: '^src/(api|cli)' },
      to: { path: '^src/(adapters|activities|main)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'client-speaks-http-only',
      comment: 'src/client is the typed HTTP client (types generated from the OpenAPI document): it imports nothing else of src.',
      severity: 'error',
      from: { path: '^src/client' },
      to: { path: '^src/', pathNot: '^src/client' },
    },
    {
      name: 'nothing-depends-on-main',
      severity: 'error',
      from: { pathNot: '^src/main' },
      to: { path: '^src/main', dependencyTypesNot: ['type-only'] },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: 'node_modules' },
  },
};
