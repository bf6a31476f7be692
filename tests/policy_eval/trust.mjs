// Reads [{trust, principal, role, account, context}] as JSON on stdin: a role's trust policy,
// the principal asking (for GitHub, the OIDC provider's ARN), the role's ARN and the token's
// claims as context keys. Prints [{decision}] for sts:AssumeRoleWithWebIdentity:
// "Allowed", "ExplicitlyDenied", "ImplicitlyDenied", or "Error" with the policy's problems.
//
// Why runUnsafeSimulation: runSimulation keeps only the context keys AWS's Service
// Authorization Reference lists for the action, and the generic OIDC keys `<provider>:sub`
// and `<provider>:aud` (IAM User Guide) are not in that list, so it would drop the claims the
// trust policy is about. The unsafe engine evaluates every key given; the policy is still
// validated first, as a trust policy, by the same package the simulator is built on.
import { runUnsafeSimulation } from '@cloud-copilot/iam-simulate'
import { createValidatedPolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))
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
process.stdout.write(JSON.stringify(out))
