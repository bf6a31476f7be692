// decide(cases): [{principal, action, resource, account, context, policies: [{name, policy}]}]
// -> [{decision}] with decision "Allowed", "ExplicitlyDenied", "ImplicitlyDenied", or "Error"
// with the simulator's errors. serve.mjs calls it in one long-lived process; run alone
// (`node evaluate.mjs < cases.json`) it reads the cases on stdin and prints the decisions.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { runAlone } from './stdio.mjs'

export async function decide(cases) {
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
  return out
}

await runAlone(import.meta.url, decide)
