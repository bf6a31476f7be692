// decide(cases): [{trust, principal, role, account, context}]: a role's trust policy, the
// principal asking (for GitHub, the OIDC provider's ARN), the role's ARN and the token's
// claims as context keys -> [{decision}] for sts:AssumeRoleWithWebIdentity: "Allowed",
// "ExplicitlyDenied", "ImplicitlyDenied", or "Error" with the policy's problems. serve.mjs
// calls it in one long-lived process; run alone it reads stdin and prints the decisions.
//
// Why runUnsafeSimulation: runSimulation keeps only the context keys AWS's Service
// Authorization Reference lists for the action, and the generic OIDC keys `<provider>:sub`
// and `<provider>:aud` (IAM User Guide) are not in that list, so it would drop the claims the
// trust policy is about. The unsafe engine evaluates every key given; the policy is still
// validated first, as a trust policy, by the same package the simulator is built on.
import { runUnsafeSimulation } from '@cloud-copilot/iam-simulate'
import { createValidatedPolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy'
import { runAlone } from './stdio.mjs'

export async function decide(cases) {
  const out = []
  for (const c of cases) {
    const trust = createValidatedPolicy(c.trust, validateTrustPolicy, { name: 'TrustPolicy' })
    if (trust.errors.length > 0) {
      out.push({ decision: 'Error', errors: trust.errors })
      continue
    }
    const decision = runUnsafeSimulation({
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: trust,
      request: {
        principal: c.principal,
        action: 'sts:AssumeRoleWithWebIdentity',
        resource: { resource: c.role, accountId: c.account },
        contextVariables: c.context,
      },
    }, {})
    out.push({ decision })
  }
  return out
}

await runAlone(import.meta.url, decide)
