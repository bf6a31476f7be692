"""The IAM actions iamstate calls today, read off live.py (plan, drift, audit, import) and
apply.py, as the bootstrap template's inputs in tests. Until each change kind declares its
actions in a registry, `test_bootstrap` keeps these lists honest by scanning the source."""

from __future__ import annotations

# What reading an account needs: the plan role gets exactly these.
PLAN_ACTIONS: tuple[str, ...] = (
    "iam:GetAccountAuthorizationDetails",
    "iam:GetAccountPasswordPolicy",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetLoginProfile",
    "iam:ListAccessKeys",
    "iam:ListSigningCertificates",
    "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials",
    "iam:ListMFADevices",
    "iam:ListEntitiesForPolicy",
)

# What apply calls on top of a plan: its writes, and the reads it makes itself (listing what
# a teardown must remove, the versions of a policy, a replaced policy's path).
APPLY_ACTIONS: tuple[str, ...] = (
    # reads of its own
    "iam:GetGroup",
    "iam:GetUser",
    "iam:ListAttachedGroupPolicies",
    "iam:ListAttachedUserPolicies",
    "iam:ListGroupPolicies",
    "iam:ListGroupsForUser",
    "iam:ListPolicies",
    "iam:ListPolicyVersions",
    "iam:ListUserPolicies",
    # the account
    "iam:UpdateAccountPasswordPolicy",
    # customer managed policies
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    # groups
    "iam:CreateGroup",
    "iam:UpdateGroup",
    "iam:DeleteGroup",
    "iam:PutGroupPolicy",
    "iam:DeleteGroupPolicy",
    "iam:AttachGroupPolicy",
    "iam:DetachGroupPolicy",
    # users and what they hold
    "iam:CreateUser",
    "iam:UpdateUser",
    "iam:DeleteUser",
    "iam:TagUser",
    "iam:UntagUser",
    "iam:CreateLoginProfile",
    "iam:DeleteLoginProfile",
    "iam:AddUserToGroup",
    "iam:RemoveUserFromGroup",
    "iam:DeleteUserPolicy",
    "iam:AttachUserPolicy",
    "iam:DetachUserPolicy",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteAccessKey",
    "iam:DeleteSigningCertificate",
    "iam:DeleteSSHPublicKey",
    "iam:DeleteServiceSpecificCredential",
    "iam:DeactivateMFADevice",
    "iam:DeleteVirtualMFADevice",
    # a replaced customer managed policy is re-attached where it was, roles included
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
)
