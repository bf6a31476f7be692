"""IAM's quotas iamstate enforces before AWS would refuse a call halfway through an apply
(the numbers are IAM's, see ../shared/IAM-FACTS.md)."""

# Characters of a document as IAM counts them against its quotas: whitespace is free.
MANAGED_POLICY_MAX = 6144
GROUP_INLINE_TOTAL_MAX = 5120
# Links: groups per user (fixed), managed policies per group (cannot be raised, whatever a
# quota page for roles says).
MAX_GROUPS_PER_USER = 10
MAX_MANAGED_POLICIES_PER_GROUP = 10
MAX_POLICY_VERSIONS = 5  # IAM keeps at most 5 versions of a managed policy
