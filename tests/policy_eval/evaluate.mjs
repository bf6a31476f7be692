// Reads [{principal, action, resource, context, policies: [{name, policy}]}] as JSON on
// stdin; prints [{decision}] with decision "Allowed", "ExplicitlyDenied" or "ImplicitlyDenied".
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const out = []
for (const c of cases) {
  const result = await runSimulation({
    identityPolicies: c.policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId: c.account },
      contextVariables: c.context,
    },
  }, {})
  if (result.errors) {
    out.push({ decision: 'Error', errors: result.errors })
  } else {
    out.push({ decision: result.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
