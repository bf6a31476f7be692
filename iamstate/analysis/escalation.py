"""Privilege-escalation findings on a State: who can make themselves more powerful.

Why: a plan can be harmless line by line and still hand someone the keys — `iam:PassRole`
in one group and `ec2:RunInstances` in another, or `iam:AddUserToGroup` anywhere. Each path
has a stable id (SPEC §1 `accepted_risks` names them), a severity and one sentence. The
list follows Rhino Security Labs' methods as cloudsplaining lists them and PMapper's edge
checkers (IAM, EC2, Lambda, CloudFormation, CodeBuild, SageMaker, SSM, Auto Scaling).

The rule — stable and never twice the same (id, principal):
- A **group** gets a finding for each path its own policies enable, `${aws:username}`
  meaning "the member asking" (so self-service policies enable nothing). A group that is
  administrator-equivalent by itself gets `ADMIN-EQUIVALENT` alone: it subsumes every path.
- A **user** gets a finding for a path only when none of their groups enables it alone:
  the combination does (PassRole from one group, RunInstances from another), or the user's
  own policies do (live state).
- A **user** gets `ADMIN-EQUIVALENT` when administrator-equivalent — directly (`iam:*` on
  `*`) or by escalation (see `administrators`) — unless one of their groups explains it: a
  group that is administrator-equivalent by itself, or a group finding for the path that
  makes the user an administrator. A user directly administrator-equivalent only through
  the combination gets that finding alone.
Conditions do not remove a finding (an MFA condition is still a way in); when every grant a
path uses is conditional, the detail says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from types import MappingProxyType
from typing import Any

from iamstate.analysis.findings import CRITICAL as CRITICAL
from iamstate.analysis.findings import HIGH as HIGH
from iamstate.analysis.findings import MEDIUM as MEDIUM
from iamstate.analysis.findings import Described, RuleInfo
from iamstate.analysis.meaning import UNREADABLE, EscalationFinding
from iamstate.analysis.permissions import (
    USERNAME,
    ActionSet,
    Context,
    Grant,
    PermissionEngine,
    PermissionSet,
    UserChange,
    glob_covers,
    glob_intersection,
    glob_match,
)
from iamstate.analysis.reach import Reach, compact
from iamstate.entities.role.model import Role
from iamstate.entities.user.model import User
from iamstate.model.state import State

ADMIN_EQUIVALENT = "ADMIN-EQUIVALENT"
SEVERITY_ORDER = (CRITICAL, HIGH, MEDIUM)

# What a needed action must reach.
OTHER_USERS = "other users"  # an IAM user other than the principal (the asking member)
ANY_USER = "any user"  # themselves included
OWN_GROUPS = "own groups"  # a group the principal is, or belongs to
ANY_GROUP = "any group"
OTHER_GROUPS = "groups the principal is not in"
ANY_POLICY = "any customer managed policy"
ANY_ROLE = "any role"
ROLES_BY_WILDCARD = "roles named by a wildcard"
POWERFUL_ROLES = "roles that trust the account and are administrators or can escalate"
ACCOUNT = "the account"  # who a role trusts, for sts:AssumeRole (services by their name)
ANYTHING = "any resource"


@dataclass(frozen=True)
class Need:
    """One action a path needs, what it must reach, and request keys it is made with."""

    action: str
    target: str = ANYTHING
    context: tuple[tuple[str, str], ...] = ()


# What a path gives (EscalationPath.gives), for `administrators`:
OWN_POLICY = "writes the user's own policies"  # so the user grants themselves anything
OWN_GROUP_POLICY = "writes their own group's policies"
TAKEOVER = "becomes another user"  # a key or a password of theirs
ROLE_SELF = "makes a role holding it an administrator"  # the role writes its own policies
SELF_ROUTE = "a route to power of one's own"  # looked at for self-escalation


@dataclass(frozen=True)
class EscalationPath:
    """A way to gain privileges: enabled when every need of one alternative is allowed.
    `references`: the ids of the same path in public catalogues (pathfinding.cloud), so a
    team can match iamstate's findings with their other scanners'."""

    id: str
    severity: str
    summary: str  # "can ...", completes "Members of group X ..." / "User x ..."
    alternatives: tuple[tuple[Need, ...], ...]
    references: tuple[str, ...] = ()
    # What using it gives the principal beyond the path itself (OWN_POLICY, ...): how
    # `administrators` finds who can make themselves one, said where the path is declared.
    gives: frozenset[str] = frozenset()

    @property
    def help(self) -> str:  # as a rule of the catalogue (findings.RuleInfo)
        return f"a user or group that {self.summary}"

    @property
    def setting(self) -> str:  # accepted per finding in accepted_risks, not switched off
        return ""


@dataclass(frozen=True)
class AdminStatus:
    """Why a user is (or is not) administrator-equivalent."""

    direct: bool = False  # iam:* (or *) on * from their policies
    paths: tuple[str, ...] = ()  # escalation ids that make them one

    @property
    def admin(self) -> bool:
        return self.direct or bool(self.paths)


def _pass(service: str) -> Need:
    return Need("iam:PassRole", ANY_ROLE, (("iam:PassedToService", f"{service}.amazonaws.com"),))


def _one(*actions: str, target: str = ANYTHING, context: tuple[tuple[str, str], ...] = ()
         ) -> tuple[tuple[Need, ...], ...]:
    """Alternatives of a single need each."""
    return tuple((Need(a, target, context),) for a in actions)


def _with(first: Need, *alternatives: tuple[str, ...]) -> tuple[tuple[Need, ...], ...]:
    """`first` plus every action of one alternative."""
    return tuple((first, *(Need(a) for a in actions)) for actions in alternatives)


# Policies whose attachment makes an administrator: AWS's two, and any policy of the
# account's own that the principal can write ({partition}/{account}: filled when checked).
_ADMIN_POLICIES = ("arn:{partition}:iam::aws:policy/AdministratorAccess",
                   "arn:{partition}:iam::aws:policy/IAMFullAccess",
                   # any other AWS managed policy: several grant iam:* on *, so a condition
                   # that excludes a few by name is no fence; only an allow-list is
                   "arn:{partition}:iam::aws:policy/any-other-aws-managed-policy")
_OWN_POLICY = "arn:{partition}:iam::{account}:policy/written-by-the-holder"


def _attach(action: str, target: str) -> tuple[tuple[Need, ...], ...]:
    """Attaching an administrator's policy: one AWS manages, or one the principal creates
    (a condition that only excludes AdministratorAccess does not stop IAMFullAccess)."""
    alternatives: list[tuple[Need, ...]] = [
        (Need(action, target, (("iam:PolicyARN", arn),)),) for arn in _ADMIN_POLICIES]
    alternatives.append((Need("iam:CreatePolicy"),
                         Need(action, target, (("iam:PolicyARN", _OWN_POLICY),))))
    return tuple(alternatives)

_PATHS: tuple[EscalationPath, ...] = (
    EscalationPath("ESC-CREATE-ACCESS-KEY", HIGH,
                   "can create access keys for other users and act as them",
                   _one("iam:CreateAccessKey", target=OTHER_USERS),
                   gives=frozenset({TAKEOVER})),
    EscalationPath("ESC-CREATE-LOGIN-PROFILE", HIGH,
                   "can give other users a console password and sign in as them",
                   _one("iam:CreateLoginProfile", target=OTHER_USERS),
                   gives=frozenset({TAKEOVER})),
    EscalationPath("ESC-UPDATE-LOGIN-PROFILE", HIGH,
                   "can change other users' console passwords and sign in as them",
                   _one("iam:UpdateLoginProfile", target=OTHER_USERS),
                   gives=frozenset({TAKEOVER})),
    EscalationPath("ESC-ADD-USER-TO-GROUP", HIGH,
                   "can add users, themselves included, to groups",
                   _one("iam:AddUserToGroup", target=OTHER_GROUPS),
                   gives=frozenset({SELF_ROUTE})),
    EscalationPath("ESC-CREATE-POLICY-VERSION", CRITICAL,
                   "can rewrite customer managed policies (a new default version)",
                   _one("iam:CreatePolicyVersion", target=ANY_POLICY),
                   gives=frozenset({SELF_ROUTE, ROLE_SELF})),
    EscalationPath("ESC-SET-DEFAULT-POLICY-VERSION", HIGH,
                   "can switch customer managed policies back to an older, maybe wider version",
                   _one("iam:SetDefaultPolicyVersion", target=ANY_POLICY),
                   gives=frozenset({SELF_ROUTE})),
    EscalationPath("ESC-ATTACH-USER-POLICY", CRITICAL,
                   "can attach any managed policy (AdministratorAccess too) to users",
                   _attach("iam:AttachUserPolicy", ANY_USER),
                   gives=frozenset({OWN_POLICY, ROLE_SELF})),
    EscalationPath("ESC-ATTACH-GROUP-POLICY", CRITICAL,
                   "can attach any managed policy (AdministratorAccess too) to their own group",
                   _attach("iam:AttachGroupPolicy", OWN_GROUPS),
                   gives=frozenset({OWN_GROUP_POLICY})),
    EscalationPath("ESC-ATTACH-ROLE-POLICY", HIGH,
                   "can attach any managed policy (AdministratorAccess too) to roles",
                   _attach("iam:AttachRolePolicy", ANY_ROLE),
                   gives=frozenset({ROLE_SELF})),
    EscalationPath("ESC-PUT-USER-POLICY", CRITICAL,
                   "can write inline policies on users",
                   _one("iam:PutUserPolicy", target=ANY_USER),
                   gives=frozenset({OWN_POLICY, ROLE_SELF})),
    EscalationPath("ESC-PUT-GROUP-POLICY", CRITICAL,
                   "can write inline policies on their own group",
                   _one("iam:PutGroupPolicy", target=OWN_GROUPS),
                   gives=frozenset({OWN_GROUP_POLICY})),
    EscalationPath("ESC-PUT-ROLE-POLICY", HIGH,
                   "can write inline policies on roles",
                   _one("iam:PutRolePolicy", target=ANY_ROLE),
                   gives=frozenset({ROLE_SELF})),
    EscalationPath("ESC-UPDATE-ASSUME-ROLE-POLICY", HIGH,
                   "can change who may assume roles (themselves included)",
                   _one("iam:UpdateAssumeRolePolicy", target=ANY_ROLE)),
    EscalationPath("ESC-PASSROLE-EC2", HIGH,
                   "can pass a role to a new EC2 instance and use its credentials",
                   _with(_pass("ec2"), ("ec2:RunInstances",), ("ec2:RequestSpotInstances",))),
    EscalationPath("ESC-PASSROLE-AUTOSCALING", HIGH,
                   "can pass a role to instances an Auto Scaling group launches",
                   _with(_pass("ec2"),
                         ("autoscaling:CreateAutoScalingGroup",
                          "autoscaling:CreateLaunchConfiguration"),
                         ("autoscaling:CreateAutoScalingGroup", "ec2:CreateLaunchTemplate"))),
    EscalationPath("ESC-PASSROLE-LAMBDA", HIGH,
                   "can pass a role to a new Lambda function and run it",
                   _with(_pass("lambda"),
                         ("lambda:CreateFunction", "lambda:InvokeFunction"),
                         ("lambda:CreateFunction", "lambda:CreateEventSourceMapping"),
                         ("lambda:CreateFunction", "lambda:AddPermission"))),
    EscalationPath("ESC-PASSROLE-CLOUDFORMATION", HIGH,
                   "can pass a role to CloudFormation and create anything it may",
                   _with(_pass("cloudformation"), ("cloudformation:CreateStack",),
                         ("cloudformation:UpdateStack",),
                         ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"),
                         ("cloudformation:CreateStackSet",
                          "cloudformation:CreateStackInstances"),
                         ("cloudformation:UpdateStackSet",))),
    EscalationPath("ESC-PASSROLE-GLUE", HIGH,
                   "can pass a role to a Glue endpoint or job and run code with it",
                   _with(_pass("glue"), ("glue:CreateDevEndpoint",),
                         ("glue:CreateJob", "glue:StartJobRun"),
                         ("glue:CreateJob", "glue:CreateTrigger"),
                         ("glue:UpdateJob", "glue:StartJobRun"),
                         ("glue:UpdateJob", "glue:CreateTrigger"))),
    EscalationPath("ESC-PASSROLE-DATAPIPELINE", HIGH,
                   "can pass a role to a Data Pipeline and run commands with it",
                   _with(_pass("datapipeline"),
                         ("datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition",
                          "datapipeline:ActivatePipeline"))),
    EscalationPath("ESC-PASSROLE-CODEBUILD", HIGH,
                   "can pass a role to a CodeBuild project and build with it",
                   _with(_pass("codebuild"), ("codebuild:CreateProject", "codebuild:StartBuild"),
                         ("codebuild:CreateProject", "codebuild:StartBuildBatch"))),
    EscalationPath("ESC-PASSROLE-SAGEMAKER", HIGH,
                   "can pass a role to a SageMaker notebook or job and run code with it",
                   _with(_pass("sagemaker"), ("sagemaker:CreateNotebookInstance",),
                         ("sagemaker:CreateTrainingJob",), ("sagemaker:CreateProcessingJob",))),
    EscalationPath("ESC-PASSROLE-ECS", HIGH,
                   "can pass a role to an ECS task and run it",
                   _with(_pass("ecs-tasks"), ("ecs:RegisterTaskDefinition", "ecs:RunTask"),
                         ("ecs:RegisterTaskDefinition", "ecs:StartTask"),
                         ("ecs:RegisterTaskDefinition", "ecs:CreateService"))),
    EscalationPath("ESC-PASSROLE-APPRUNNER", HIGH,
                   "can pass a role to a new App Runner service",
                   _with(_pass("apprunner"), ("apprunner:CreateService",))),
    EscalationPath("ESC-UPDATE-LAMBDA-CODE", MEDIUM,
                   "can replace the code of existing Lambda functions and act as their roles",
                   _one("lambda:UpdateFunctionCode")),
    EscalationPath("ESC-UPDATE-GLUE-DEV-ENDPOINT", MEDIUM,
                   "can put their SSH key on existing Glue endpoints and act as their roles",
                   _one("glue:UpdateDevEndpoint")),
    EscalationPath("ESC-SSM-COMMAND", MEDIUM,
                   "can run commands on managed instances and act as their roles",
                   _one("ssm:SendCommand", "ssm:StartSession")),
    EscalationPath("ESC-EC2-INSTANCE-CONNECT", MEDIUM,
                   "can push SSH keys to instances and act as their roles",
                   _one("ec2-instance-connect:SendSSHPublicKey")),
    EscalationPath("ESC-ECS-EXECUTE-COMMAND", MEDIUM,
                   "can open a shell in running ECS tasks and act as their roles",
                   _one("ecs:ExecuteCommand")),
    EscalationPath("ESC-EC2-USER-DATA", MEDIUM,
                   "can change an instance's user data and restart it to run code as its role",
                   ((Need("ec2:ModifyInstanceAttribute"), Need("ec2:StopInstances"),
                     Need("ec2:StartInstances")),)),
    EscalationPath("ESC-SAGEMAKER-NOTEBOOK-URL", MEDIUM,
                   "can open existing SageMaker notebooks and act as their roles",
                   _one("sagemaker:CreatePresignedNotebookInstanceUrl")),
    EscalationPath("ESC-ASSUME-ROLE", HIGH,
                   "can assume roles that are administrator-equivalent or can escalate",
                   _one("sts:AssumeRole", target=POWERFUL_ROLES),
                   gives=frozenset({SELF_ROUTE})),
    EscalationPath("ESC-ASSUME-ANY-ROLE", MEDIUM,
                   "can assume any role that trusts the account, not named ones",
                   _one("sts:AssumeRole", target=ROLES_BY_WILDCARD)),
    # Escaping a restriction: a Deny on a group, a permissions boundary, a grant scoped by
    # path all stop only those who cannot remove or move around them.
    EscalationPath("ESC-LEAVE-GROUP", MEDIUM,
                   "can remove users from their own groups (themselves too), and so from "
                   "the Deny a group places on them",
                   _one("iam:RemoveUserFromGroup", target=OWN_GROUPS)),
    EscalationPath("ESC-DELETE-GROUP-POLICY", MEDIUM,
                   "can delete their own groups' inline policies (a Deny too)",
                   _one("iam:DeleteGroupPolicy", target=OWN_GROUPS)),
    EscalationPath("ESC-DETACH-GROUP-POLICY", MEDIUM,
                   "can detach their own groups' managed policies (a Deny too)",
                   _one("iam:DetachGroupPolicy", target=OWN_GROUPS)),
    EscalationPath("ESC-DELETE-PERMISSIONS-BOUNDARY", MEDIUM,
                   "can remove users' permissions boundaries",
                   _one("iam:DeleteUserPermissionsBoundary", target=ANY_USER)),
    EscalationPath("ESC-MOVE-USER", MEDIUM,
                   "can rename or move users (themselves too) under paths other grants "
                   "cover", _one("iam:UpdateUser", target=ANY_USER)),
    EscalationPath("ESC-MOVE-GROUP", MEDIUM,
                   "can rename or move their own groups under paths other grants cover",
                   _one("iam:UpdateGroup", target=OWN_GROUPS)),
    EscalationPath("ESC-PASSROLE-STEPFUNCTIONS", HIGH,
                   "can pass a role to a Step Functions state machine and run it",
                   _with(_pass("states"), ("states:CreateStateMachine", "states:StartExecution"),
                         ("states:UpdateStateMachine", "states:StartExecution"))),
    EscalationPath("ESC-PASSROLE-BATCH", HIGH,
                   "can pass a role to a Batch job and run it",
                   # the job role is passed to Batch, or to ECS tasks for a container job
                   (*_with(_pass("batch"), ("batch:RegisterJobDefinition", "batch:SubmitJob")),
                    *_with(_pass("ecs-tasks"),
                           ("batch:RegisterJobDefinition", "batch:SubmitJob")))),
    EscalationPath("ESC-PASSROLE-EC2-ASSOCIATE", MEDIUM,
                   "can give a running EC2 instance a role and use its credentials",
                   _with(_pass("ec2"), ("ec2:AssociateIamInstanceProfile",),
                         ("ec2:ReplaceIamInstanceProfileAssociation",))),
    EscalationPath("ESC-UPDATE-CLOUDFORMATION-STACK", MEDIUM,
                   "can change existing CloudFormation stacks and act as their roles",
                   ((Need("cloudformation:UpdateStack"),),
                    (Need("cloudformation:CreateChangeSet"),
                     Need("cloudformation:ExecuteChangeSet")))),
    EscalationPath("ESC-CODEBUILD-START-BUILD", MEDIUM,
                   "can run existing CodeBuild projects with their own buildspec and act as "
                   "their roles", _one("codebuild:StartBuild", "codebuild:StartBuildBatch")),
    EscalationPath("ESC-APPRUNNER-UPDATE-SERVICE", MEDIUM,
                   "can change existing App Runner services and act as their roles",
                   _one("apprunner:UpdateService")),
    EscalationPath("ESC-EC2-LAUNCH-TEMPLATE", MEDIUM,
                   "can change the launch templates instances start from (user data, role)",
                   ((Need("ec2:CreateLaunchTemplateVersion"),
                     Need("ec2:ModifyLaunchTemplate")),)),
    EscalationPath("ESC-PASSROLE-BEDROCK-CODE-INTERPRETER", HIGH,
                   "can pass a role to a new Bedrock AgentCore code interpreter and run code",
                   _with(_pass("bedrock-agentcore"),
                         ("bedrock-agentcore:CreateCodeInterpreter",
                          "bedrock-agentcore:StartCodeInterpreterSession",
                          "bedrock-agentcore:InvokeCodeInterpreter"))),
    EscalationPath("ESC-BEDROCK-CODE-INTERPRETER", MEDIUM,
                   "can run code in existing Bedrock AgentCore code interpreters and act as "
                   "their roles", ((Need("bedrock-agentcore:StartCodeInterpreterSession"),
                                    Need("bedrock-agentcore:InvokeCodeInterpreter")),)),
    EscalationPath("ESC-BATCH-SUBMIT-JOB", MEDIUM,
                   "can run existing Batch job definitions with their own command and act as "
                   "their roles", _one("batch:SubmitJob")),
    EscalationPath("ESC-CODEDEPLOY-DEPLOYMENT", MEDIUM,
                   "can deploy their own code to instances of existing CodeDeploy groups and "
                   "act as their roles",
                   ((Need("codedeploy:CreateDeployment"),
                     Need("codedeploy:RegisterApplicationRevision")),)),
    EscalationPath("ESC-SAGEMAKER-LIFECYCLE-CONFIG", MEDIUM,
                   "can give existing SageMaker notebooks a start-up script and act as their "
                   "roles", ((Need("sagemaker:CreateNotebookInstanceLifecycleConfig"),
                              Need("sagemaker:StopNotebookInstance"),
                              Need("sagemaker:UpdateNotebookInstance"),
                              Need("sagemaker:StartNotebookInstance")),)),
)
# The same paths in DataDog's public catalogue, pathfinding.cloud (the ids Prowler, Trivy and
# cloudsplaining use), so a finding can be matched with other scanners' findings.
_CATALOGUE: Mapping[str, tuple[str, ...]] = {
    "ESC-CREATE-ACCESS-KEY": ("iam-002", "iam-003"),
    "ESC-CREATE-LOGIN-PROFILE": ("iam-004",),
    "ESC-UPDATE-LOGIN-PROFILE": ("iam-006",),
    "ESC-ADD-USER-TO-GROUP": ("iam-013",),
    "ESC-CREATE-POLICY-VERSION": ("iam-001", "iam-016", "iam-020"),
    "ESC-ATTACH-USER-POLICY": ("iam-008", "iam-015"),
    "ESC-ATTACH-GROUP-POLICY": ("iam-010",),
    "ESC-ATTACH-ROLE-POLICY": ("iam-009", "iam-014", "iam-019"),
    "ESC-PUT-USER-POLICY": ("iam-007", "iam-018"),
    "ESC-PUT-GROUP-POLICY": ("iam-011",),
    "ESC-PUT-ROLE-POLICY": ("iam-005", "iam-017", "iam-021"),
    "ESC-UPDATE-ASSUME-ROLE-POLICY": ("iam-012", "iam-019", "iam-020", "iam-021"),
    "ESC-PASSROLE-EC2": ("ec2-001", "ec2-003"),
    "ESC-PASSROLE-LAMBDA": ("lambda-001", "lambda-002", "lambda-006"),
    "ESC-PASSROLE-CLOUDFORMATION": ("cloudformation-001", "cloudformation-003",
                                    "cloudformation-004"),
    "ESC-PASSROLE-GLUE": ("glue-001", "glue-003", "glue-004", "glue-005", "glue-006"),
    "ESC-PASSROLE-DATAPIPELINE": ("datapipeline-001",),
    "ESC-PASSROLE-CODEBUILD": ("codebuild-001", "codebuild-004"),
    "ESC-PASSROLE-SAGEMAKER": ("sagemaker-001", "sagemaker-002", "sagemaker-003"),
    "ESC-PASSROLE-ECS": ("ecs-001", "ecs-002", "ecs-003", "ecs-004", "ecs-005"),
    "ESC-PASSROLE-APPRUNNER": ("apprunner-001",),
    "ESC-UPDATE-LAMBDA-CODE": ("lambda-003", "lambda-004", "lambda-005"),
    "ESC-UPDATE-GLUE-DEV-ENDPOINT": ("glue-002",),
    "ESC-SSM-COMMAND": ("ssm-001", "ssm-002"),
    "ESC-EC2-INSTANCE-CONNECT": ("ec2instanceconnect-003",),
    "ESC-EC2-USER-DATA": ("ec2-002",),
    "ESC-SAGEMAKER-NOTEBOOK-URL": ("sagemaker-004",),
    "ESC-ASSUME-ANY-ROLE": ("sts-001",),
    "ESC-ASSUME-ROLE": ("sts-001",),
    "ESC-UPDATE-CLOUDFORMATION-STACK": ("cloudformation-002", "cloudformation-005"),
    "ESC-CODEBUILD-START-BUILD": ("codebuild-002", "codebuild-003"),
    "ESC-APPRUNNER-UPDATE-SERVICE": ("apprunner-002",),
    "ESC-EC2-LAUNCH-TEMPLATE": ("ec2-004",),
    "ESC-SAGEMAKER-LIFECYCLE-CONFIG": ("sagemaker-005",),
    "ESC-PASSROLE-BATCH": ("batch-001",),
    "ESC-PASSROLE-BEDROCK-CODE-INTERPRETER": ("bedrock-001",),
    "ESC-BEDROCK-CODE-INTERPRETER": ("bedrock-002",),
    "ESC-BATCH-SUBMIT-JOB": ("batch-002",),
    "ESC-CODEDEPLOY-DEPLOYMENT": ("codedeploy-001",),
    "ESC-ECS-EXECUTE-COMMAND": ("ecs-006",),
}
PATHS: tuple[EscalationPath, ...] = tuple(
    replace(p, references=tuple(f"pathfinding.cloud/{i}" for i in _CATALOGUE.get(p.id, ())))
    for p in _PATHS)
PATHS_BY_ID: Mapping[str, EscalationPath] = MappingProxyType({p.id: p for p in PATHS})


def _passed_to(path: EscalationPath) -> tuple[str, ...]:
    """The services a PassRole path passes its role to (none: not a PassRole path)."""
    return tuple(sorted({v for alternative in path.alternatives for need in alternative
                         for k, v in need.context if k == "iam:PassedToService"}))
# The catalogue as rules (SARIF's rule list): the paths, and the two findings of no path.
RULES: tuple[RuleInfo, ...] = (
    Described(ADMIN_EQUIVALENT, CRITICAL, "a user or group that can perform every IAM action "
              "on every resource, or make themselves able to"),
    Described(UNREADABLE, HIGH, "a user newly under a policy whose document could not be "
              "read, so what it grants cannot be said"),
    *PATHS)
SEVERITIES: Mapping[str, str] = MappingProxyType(
    {ADMIN_EQUIVALENT: CRITICAL, **{p.id: p.severity for p in PATHS}})

def _giving(what: str) -> tuple[str, ...]:
    """The paths that give `what` (as each path's declaration says)."""
    return tuple(p.id for p in PATHS if what in p.gives)


# Paths whose use gives the principal itself arbitrary permissions (see `administrators`).
_SELF_POLICY = _giving(OWN_POLICY)
_OWN_GROUP_POLICY = _giving(OWN_GROUP_POLICY)
_BECOME_USER = _giving(TAKEOVER)
# A role with one of these makes itself (or anyone it can write) an administrator.
_ROLE_SELF = frozenset(_giving(ROLE_SELF))
# The paths `self_escalation` looks at: a user with none of them cannot make themselves one.
_SELF_ESCALATING = frozenset({*_SELF_POLICY, *_OWN_GROUP_POLICY, *_giving(SELF_ROUTE),
                              *(p.id for p in PATHS if _passed_to(p))})


# --------------------------------------------------------------------------------------------
# Does a grant reach a target?
# --------------------------------------------------------------------------------------------


def _starred(pattern: str) -> str:
    """`${...}` read as "any value": wider, so a finding is never missed because of it."""
    out, rest = "", pattern
    while "${" in rest:
        before, _, after = rest.partition("${")
        out += before + "*"
        rest = after.partition("}")[2]
    return out + rest


def _self_only(pattern: str) -> bool:
    """`...:user/${aws:username}` and `...:user/*/${aws:username}` name the asker alone
    (user names are unique in an account, whatever the path)."""
    return pattern.lower().endswith("/" + USERNAME) and ":user/" in pattern


def _exclusions(grant: Grant) -> list[str]:
    # An exclusion with a variable is ignored: reading it narrowly finds more, never less.
    return [e for e in grant.not_resources if "${" not in e]


def _reaches_glob(grant: Grant, target: str, skip_self: bool = False) -> bool:
    excluded = _exclusions(grant)
    for include in grant.resources:
        if skip_self and _self_only(include):
            continue
        for part in glob_intersection(_starred(include), target):
            if not any(glob_covers(e, part) for e in excluded):
                return True
    return False


def _reaches_arn(grant: Grant, arn: str, username: str | None = None) -> bool:
    """Does the grant cover this concrete ARN? `${aws:username}` is resolved for `username`;
    any other variable (or the name, without one) is read as "any value"."""
    def resolve(pattern: str) -> str:
        return pattern.replace(USERNAME, username) if username else pattern

    included = [_starred(resolve(p)) for p in grant.resources]
    excluded = [e for e in map(resolve, grant.not_resources) if "${" not in e]
    return any(glob_match(p, arn) for p in included) and not any(
        glob_match(e, arn) for e in excluded)


def _reaches_other(grant: Grant, glob: str, own: tuple[str, ...]) -> bool:
    """Does the grant reach some ARN under `glob` other than the `own` ones?"""
    excluded = _exclusions(grant)
    for include in grant.resources:
        for part in glob_intersection(_starred(include), glob):
            if any(glob_covers(e, part) for e in excluded):
                continue
            if "*" in part or "?" in part or part not in own:
                return True
    return False


def _roles_by_wildcard(grant: Grant, roles: str) -> bool:
    return any("*" in part or "?" in part
               for include in grant.resources
               for part in glob_intersection(_starred(include), roles))


def _reaching_any(arns: tuple[str, ...]) -> Callable[[Grant], bool]:
    return lambda g: any(_reaches_arn(g, arn) for arn in arns)


def _target_check(target: str, own_groups: tuple[str, ...], ctx: Context,
                  roles: _Roles | None) -> Callable[[Grant], bool]:
    """What "reaches the target" means for a grant; `own_groups`: ARNs of the group itself,
    or of the user's groups."""
    if target == POWERFUL_ROLES:  # only where roles were read: who they trust, their power
        return _reaching_any(roles.powerful(ACCOUNT) if roles is not None else ())
    if target == ROLES_BY_WILDCARD and roles is not None:
        return lambda g: False  # roles were read: ESC-ASSUME-ROLE says which ones matter
    if target == OWN_GROUPS:
        return lambda g: any(_reaches_arn(g, arn) for arn in own_groups)
    if target == OTHER_GROUPS:  # adding members to one's own groups grants nothing new
        glob = ctx.arn("group", "/", "*")
        return lambda g: _reaches_other(g, glob, own_groups)
    if target == ROLES_BY_WILDCARD:
        every_role = ctx.arn("role", "/", "*")
        return lambda g: _roles_by_wildcard(g, every_role)
    if target == ANYTHING:
        return lambda g: True
    kind = {OTHER_USERS: "user", ANY_USER: "user", ANY_GROUP: "group", ANY_POLICY: "policy",
            ANY_ROLE: "role"}[target]
    glob = ctx.arn(kind, "/", "*")
    return lambda g: _reaches_glob(g, glob, skip_self=target == OTHER_USERS)


def _grants_for(need: Need, perms: PermissionSet, own_groups: tuple[str, ...], ctx: Context,
                roles: _Roles | None = None) -> tuple[Grant, ...]:
    context = {k: v.replace("{partition}", ctx.partition).replace("{account}", ctx.account_id)
               for k, v in need.context}
    service = context.get("iam:PassedToService")
    if need.action == "iam:PassRole" and service and roles is not None:
        # Passing a role carries that role's power, and only a role that trusts the
        # service can be passed to it: a harmless role is no way up.
        reaches = _reaching_any(roles.powerful(service))
    else:
        reaches = _target_check(need.target, own_groups, ctx, roles)
    return tuple(g for g in perms.allowing(need.action, context) if reaches(g))


@dataclass(frozen=True)
class _Use:
    """How a principal can take a path: each needed action with the grants allowing it."""

    steps: tuple[tuple[str, tuple[Grant, ...]], ...]

    @property
    def grants(self) -> tuple[Grant, ...]:
        return tuple(g for _, grants in self.steps for g in grants)

    @property
    def reach(self) -> tuple[Reach, ...]:
        return tuple(sorted({_reach(action, g) for action, grants in self.steps
                             for g in grants}, key=lambda r: (r.action, r.resources,
                                                              r.conditions, r.unless)))


def _reach(action: str, grant: Grant) -> Reach:
    return Reach(action, grant.resources, grant.not_resources,
                 compact(grant.conditions) if grant.conditions else "",
                 tuple(sorted(compact(u) for u in grant.unless)))


def _enabled(path: EscalationPath, perms: PermissionSet, own_groups: tuple[str, ...],
             ctx: Context, roles: _Roles | None = None) -> _Use | None:
    """The first alternative of the path the principal can take, or None."""
    for alternative in path.alternatives:
        steps: list[tuple[str, tuple[Grant, ...]]] = []
        for need in alternative:
            grants = _grants_for(need, perms, own_groups, ctx, roles)
            if not grants:
                break
            steps.append((need.action, grants))
        else:
            return _Use(tuple(steps))
    return None


@lru_cache(maxsize=512)
def _action_bits(action: str) -> int:
    return ActionSet.of([action]).bits


@lru_cache(maxsize=1)
def _path_masks() -> tuple[tuple[EscalationPath, tuple[int, ...] | None], ...]:
    """Each path with one mask per alternative: the catalogue bits of the actions it needs
    (each names one action, so the alternative is possible only if all its bits are
    present). None where a need matches several actions: no shortcut for that path."""
    out: list[tuple[EscalationPath, tuple[int, ...] | None]] = []
    for path in PATHS:
        masks: list[int] | None = []
        for alternative in path.alternatives:
            bits = [_action_bits(n.action) for n in alternative]
            if any(b & (b - 1) for b in bits):
                masks = None
                break
            if masks is not None and all(bits):  # an unknown action is never held
                mask = 0
                for b in bits:
                    mask |= b
                masks.append(mask)
        out.append((path, tuple(masks) if masks is not None else None))
    return tuple(out)


def _present(perms: PermissionSet) -> int:
    present = 0
    for grant in perms.grants:
        present |= grant.action_set.bits
    return present


def _possible(path: EscalationPath, masks: tuple[int, ...] | None, present: int) -> bool:
    """Could a principal holding the actions `present` take the path at all?"""
    return masks is None or any(present & mask == mask for mask in masks)


@lru_cache(maxsize=8)
def _masks_of(ids: frozenset[str]) -> tuple[tuple[EscalationPath, tuple[int, ...] | None], ...]:
    return tuple((path, masks) for path, masks in _path_masks() if path.id in ids)


@lru_cache(maxsize=4096)
def _may_take_any(present: int, ids: frozenset[str]) -> bool:
    """Could a principal holding the actions `present` take any of these paths?"""
    return any(_possible(path, masks, present) for path, masks in _masks_of(ids))


@lru_cache(maxsize=4096)
def _possible_paths(present: int) -> tuple[EscalationPath, ...]:
    """The paths (in order) a principal holding the actions `present` could take: the
    same few sets of actions recur in principal after principal."""
    return tuple(path for path, masks in _path_masks() if _possible(path, masks, present))


@dataclass(frozen=True)
class _Possible:
    """The paths a holder of some actions could take, and what deciding them needs."""

    paths: tuple[EscalationPath, ...]
    ids: tuple[str, ...]
    needed: int | None  # every action they need (None: a need names several actions)
    by_own_groups: bool  # does one reach by the principal's own groups?


@lru_cache(maxsize=4096)
def _possible_for(present: int) -> _Possible:
    masks = dict(_path_masks())
    paths = _possible_paths(present)
    needed: int | None = 0
    for path in paths:
        found = masks[path]
        if found is None or needed is None:
            needed = None
            continue
        for mask in found:
            needed |= mask
    return _Possible(paths, tuple(p.id for p in paths), needed,
                     any(need.target in (OWN_GROUPS, OTHER_GROUPS) for path in paths
                         for alternative in path.alternatives for need in alternative))


def _paths(perms: PermissionSet, own_groups: tuple[str, ...], ctx: Context,
           roles: _Roles | None = None,
           possible: tuple[EscalationPath, ...] | None = None) -> dict[str, _Use]:
    # Most principals hold none of the actions most paths need: one mask test per
    # alternative skips those paths before any grant is looked at.
    found = {}
    for path in _possible_paths(_present(perms)) if possible is None else possible:
        use = _enabled(path, perms, own_groups, ctx, roles)
        if use is not None:
            found[path.id] = use
    return found


def _grants_of(paths: Mapping[str, _Use], path_id: str) -> tuple[Grant, ...]:
    use = paths.get(path_id)
    return use.grants if use else ()


def _admin_grants(perms: PermissionSet) -> tuple[Grant, ...]:
    return tuple(g for g in perms.grants if "*" in g.resources and not g.not_resources
                 and any(a == "*" or a.lower().startswith("iam:") for a in g.actions))


# --------------------------------------------------------------------------------------------
# Administrators, directly or by escalation.
# --------------------------------------------------------------------------------------------


def _trusted(role: Role) -> tuple[frozenset[str], frozenset[str]]:
    """Who the role's trust policy lets assume it: AWS principals and services. Conditions
    are not read (a condition narrows who, never whether: read wide, found more)."""
    aws: set[str] = set()
    services: set[str] = set()
    statements = role.trust.document.get("Statement", []) if role.trust else []
    for statement in [statements] if isinstance(statements, Mapping) else statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not any(
                a.lower() in ("sts:assumerole", "sts:*", "*") for a in actions):
            continue
        principal = statement.get("Principal", {})
        if principal == "*":
            aws.add("*")
            continue
        for key, into in (("AWS", aws), ("Service", services)):
            value = principal.get(key, []) if isinstance(principal, Mapping) else []
            into.update([value] if isinstance(value, str) else value)
    return frozenset(aws), frozenset(services)


class _Roles:
    """The account's roles as the analysis needs them: which are administrator-equivalent
    or can escalate, and who may assume them (the account, or a service)."""

    def __init__(self, analysis: _Analysis, roles: Mapping[str, Role]) -> None:
        ctx = analysis.ctx
        # trusted (ACCOUNT or a service) -> (role ARN, admin, the account's principals it
        # names; None when it trusts the whole account)
        self._by_trust: dict[str, list[tuple[str, bool, frozenset[str] | None]]] = {}
        everyone = {"*", ctx.account_id, f"arn:{ctx.partition}:iam::{ctx.account_id}:root"}
        for name in sorted(roles):
            role = roles[name]
            perms = analysis.engine.for_role(analysis.state, role)
            own = _paths(perms, (), ctx, None)  # every role counted as powerful: wide
            admin = perms.admin or bool(own.keys() & _ROLE_SELF)
            if not (admin or own):
                continue  # harmless: assuming or passing it gains nothing
            arn = ctx.arn("role", role.path, role.name)
            aws, services = _trusted(role)
            named = frozenset(p.lower() for p in aws if _in_account(p, ctx))
            if named:
                whom = None if named & {e.lower() for e in everyone} else named
                self._by_trust.setdefault(ACCOUNT, []).append((arn, admin, whom))
            for service in services:
                self._by_trust.setdefault(service.lower(), []).append((arn, admin, None))

    def powerful(self, trusted: str) -> tuple[str, ...]:
        """Roles someone (some member, for a group) may assume or pass: wide on purpose."""
        return tuple(arn for arn, _, _ in self._by_trust.get(trusted.lower(), ()))

    def admins(self, trusted: str, principal: str | None = None) -> tuple[str, ...]:
        """Administrator roles that `principal` (a user's ARN; None: anyone who joins)
        may assume or pass: a role that trusts only named users is theirs alone."""
        return tuple(arn for arn, admin, whom in self._by_trust.get(trusted.lower(), ())
                     if admin and (whom is None or (principal or "").lower() in whom))


def _in_account(principal: str, ctx: Context) -> bool:
    return principal in ("*", ctx.account_id) or principal.startswith(
        f"arn:{ctx.partition}:iam::{ctx.account_id}:")


class _Analysis:
    """Per-state work shared by findings and administrators, cached per distinct group set."""

    def __init__(self, state: State, ctx: Context, engine: PermissionEngine | None) -> None:
        self.state, self.ctx = state, ctx
        self.engine = engine or PermissionEngine(ctx)

        self._group_paths: dict[str, dict[str, _Use]] = {}
        self._group_perms: dict[str, PermissionSet] = {}
        self._keys: dict[int, tuple[User, frozenset[int]]] = {}
        self._user_paths: dict[tuple[Any, ...], dict[str, _Use]] = {}
        self._administrators: dict[str, AdminStatus] | None = None
        self._paths_by_user: dict[str, dict[str, _Use]] = {}
        self._may_self_escalate: dict[Any, bool] = {}

    @cached_property
    def roles(self) -> _Roles | None:
        """Read once per state, when a path first asks (most plans never do)."""
        return _Roles(self, self.ctx.roles) if self.ctx.roles is not None else None

    def group_arn(self, name: str) -> str:
        return self.ctx.arn("group", self.state.groups[name].path, name)

    def user_arn(self, user: User) -> str:
        return self.ctx.arn("user", user.path, user.name)

    def group_perms(self, name: str) -> PermissionSet:
        found = self._group_perms.get(name)
        if found is None:
            found = self._group_perms[name] = self.engine.for_group(self.state, name)
        return found

    def group_paths(self, name: str) -> dict[str, _Use]:
        found = self._group_paths.get(name)
        if found is None:
            found = self._group_paths[name] = _paths(self.group_perms(name),
                                                     (self.group_arn(name),), self.ctx,
                                                     self.roles)
        return found

    def user_groups(self, user: User) -> list[str]:
        return sorted(g for g in user.groups if g in self.state.groups)

    def user_key(self, user: User) -> frozenset[int]:
        """The engine's key of the user's set of policies, once per user."""
        held = self._keys.get(id(user))
        if held is None or held[0] is not user:
            held = self._keys[id(user)] = (user, self.engine.user_key(self.state, user))
        return held[1]

    def user_perms(self, user: User) -> PermissionSet:
        return self.engine.permission_set(self.user_key(user))

    def user_admin(self, user: User) -> bool:
        """`user_perms(user).admin`, without building the user's grants."""
        return self.engine.admin(self.user_key(user))

    def user_paths(self, user: User) -> dict[str, _Use]:
        """Paths of the user's whole set of policies. Cached per what decides them: the
        grants holding an action some path the user could take needs (the same few
        grants, of the same groups, in set after set), and the user's groups where a path
        reaches by them."""
        mine = self._paths_by_user.get(user.name)
        if mine is not None:
            return mine
        key = self.user_key(user)
        possible = _possible_for(self.engine.present(key))
        groups = tuple(self.group_arn(g) for g in self.user_groups(user))
        if possible.needed is None:  # a need naming several actions: the whole set decides
            found = self._user_paths.get((key, groups))
            if found is None:
                found = self._user_paths[(key, groups)] = _paths(
                    self.user_perms(user), groups, self.ctx, self.roles, possible.paths)
        else:
            grants = self.engine.grants_with(key, possible.needed)
            # the engine keeps every grant it made: an id stays its grant's
            cache_key = (tuple(map(id, grants)),
                         groups if possible.by_own_groups else None, possible.ids)
            found = self._user_paths.get(cache_key)
            if found is None:
                found = self._user_paths[cache_key] = _paths(
                    PermissionSet(grants), groups, self.ctx, self.roles, possible.paths)
        self._paths_by_user[user.name] = found
        return found

    def customer_policies(self, user: User, with_old_versions: bool = False) -> list[str]:
        """ARNs of the customer managed policies that apply to the user (only those with
        older versions kept, if asked)."""
        prefix = self.ctx.arn("policy", "", "")
        arns = set(user.attached_policies)
        for group in self.user_groups(user):
            arns |= self.state.groups[group].managed_policies
        old = {self.ctx.arn("policy", p.path, p.name) for p in self.state.policies.values()
               if p.old_versions}
        return sorted(a for a in arns if a.startswith(prefix)
                      and (not with_old_versions or a in old))

    def admin_groups(self) -> list[str]:
        """ARNs of groups whose new member becomes administrator-equivalent by that alone."""
        granting = set(_SELF_POLICY) | set(_OWN_GROUP_POLICY)
        return [self.group_arn(g) for g in sorted(self.state.groups)
                if self.group_perms(g).admin or granting & set(self.group_paths(g))
                or self.admin_roles_taken(self.group_paths(g), None, None)]

    def self_escalation(self, user: User, admin_groups: list[str]) -> list[str]:
        """Paths by which the user can give themselves arbitrary permissions."""
        key = self.user_key(user)
        possible = self._may_self_escalate.get(key)
        if possible is None:
            possible = self._may_self_escalate[key] = _may_take_any(
                self.engine.present(key), _SELF_ESCALATING)
        if not possible:
            return []  # the common case, known from the actions alone
        paths = self.user_paths(user)
        if not paths.keys() & _SELF_ESCALATING:
            return []  # most users: none of the paths this needs, whoever they are
        arn = self.user_arn(user)
        found = [p for p in _SELF_POLICY
                 if any(_reaches_arn(g, arn, user.name) for g in _grants_of(paths, p))]
        found += [p for p in _OWN_GROUP_POLICY if p in paths]
        own = self.customer_policies(user)
        if any(_reaches_arn(g, policy, user.name)
               for g in _grants_of(paths, "ESC-CREATE-POLICY-VERSION") for policy in own):
            found.append("ESC-CREATE-POLICY-VERSION")
        # An older version of a policy of their own may say anything (iamstate does not
        # read old versions): switching back to it is as good as writing a new one.
        if any(_reaches_arn(g, policy, user.name)
               for g in _grants_of(paths, "ESC-SET-DEFAULT-POLICY-VERSION")
               for policy in self.customer_policies(user, with_old_versions=True)):
            found.append("ESC-SET-DEFAULT-POLICY-VERSION")
        if any(_reaches_arn(g, group, user.name)
               for g in _grants_of(paths, "ESC-ADD-USER-TO-GROUP") for group in admin_groups):
            found.append("ESC-ADD-USER-TO-GROUP")
        return sorted(found + self.admin_roles_taken(paths, user.name, arn))

    def admin_roles_taken(self, paths: Mapping[str, _Use], username: str | None,
                          user_arn: str | None = None) -> list[str]:
        """Paths by which the principal assumes, or passes to a service, a role that is
        administrator-equivalent: it carries the role's power."""
        if self.roles is None:
            return []
        found = []
        if any(_reaches_arn(g, arn, username) for g in _grants_of(paths, "ESC-ASSUME-ROLE")
               for arn in self.roles.admins(ACCOUNT, user_arn)):
            found.append("ESC-ASSUME-ROLE")
        for path_id, use in paths.items():
            services = _passed_to(PATHS_BY_ID[path_id])
            passing = [g for action, grants in use.steps if action == "iam:PassRole"
                       for g in grants]
            if any(_reaches_arn(g, arn, username) for g in passing
                   for service in services for arn in self.roles.admins(service)):
                found.append(path_id)
        return found

    def administrators(self) -> dict[str, AdminStatus]:
        if self._administrators is None:
            self._administrators = self._find_administrators()
        return self._administrators

    def _find_administrators(self) -> dict[str, AdminStatus]:
        users = [self.state.users[n] for n in sorted(self.state.users)]
        admin_groups = self.admin_groups()
        status = {u.name: AdminStatus(True) if self.user_admin(u)
                  else AdminStatus(False, tuple(self.self_escalation(u, admin_groups)))
                  for u in users}  # direct subsumes every path: none is listed then
        # Users outside the plan (ignored ones) are targets too: taking over an ignored
        # administrator is taking over an administrator.
        outside = [(u, self.user_arn(u)) for n, u in sorted(self.ctx.outside_users.items())
                   if n not in self.state.users and self.user_admin(u)]
        changed = True
        while changed:  # becoming an administrator user: until nobody new is found
            changed = False
            targets = [(u, self.user_arn(u)) for u in users if status[u.name].admin] + outside
            if not targets:
                break  # nobody to take over
            for user in users:
                if status[user.name].admin:
                    continue
                paths = self.user_paths(user)
                found = [p for p in _BECOME_USER for g in _grants_of(paths, p)
                         for target, arn in targets
                         if target.name != user.name and _takes_over(p, target)
                         and _reaches_arn(g, arn, user.name)]
                # ... or join a group whose members can take one over
                joins = _grants_of(paths, "ESC-ADD-USER-TO-GROUP")
                if joins and any(_reaches_arn(g, group, user.name)
                                 for group in self.takeover_groups(user, targets)
                                 for g in joins):
                    found.append("ESC-ADD-USER-TO-GROUP")
                if found:
                    status[user.name] = AdminStatus(False, tuple(sorted(set(found))))
                    changed = True
        return status

    def takeover_groups(self, user: User, targets: list[tuple[User, str]]) -> list[str]:
        """ARNs of groups in which `user`, once a member, could take over an administrator
        other than themselves (access key, password)."""
        found = []
        for name in sorted(self.state.groups):
            if name in user.groups:
                continue  # already counted in the user's own paths
            paths = self.group_paths(name)
            if any(_reaches_arn(g, arn, user.name) for p in _BECOME_USER
                   for g in _grants_of(paths, p) for target, arn in targets
                   if target.name != user.name and _takes_over(p, target)):
                found.append(self.group_arn(name))
        return found


def _takes_over(path_id: str, target: User) -> bool:
    """Can this path take over that user? A password can be changed only where there is
    one (UpdateLoginProfile) and created only where there is none (CreateLoginProfile);
    an access key can always be made."""
    if path_id == "ESC-UPDATE-LOGIN-PROFILE":
        return target.console_access
    if path_id == "ESC-CREATE-LOGIN-PROFILE":
        return not target.console_access
    return True


def administrators(state: State, ctx: Context, engine: PermissionEngine | None = None
                   ) -> Mapping[str, AdminStatus]:
    """Every user's administrator-equivalence: direct (`iam:*` on `*`), or by escalation —
    writing or attaching their own user or group policies, rewriting a customer managed
    policy that applies to them, joining a group that makes its members administrators, or
    taking over (access key, password) a user who is one. Roles are not in the state, so
    paths through roles are findings but never make a user an administrator here."""
    return MappingProxyType(_analysis(state, ctx, engine).administrators())


def _analysis(state: State, ctx: Context, engine: PermissionEngine | None) -> _Analysis:
    """One analysis per state and engine: a plan asks about the same two states several
    times (findings, administrators, the admin flag of each changed user)."""
    if engine is None:
        return _Analysis(state, ctx, None)
    cache: dict[int, tuple[State, _Analysis]] = engine.__dict__.setdefault(
        "_escalation_analyses", {})
    held = cache.get(id(state))
    if held is None or held[0] is not state:
        held = cache[id(state)] = (state, _Analysis(state, ctx, engine))
    return held[1]


def combine_admin(
    changes: Mapping[str, UserChange], before: State, after: State, ctx: Context,
    engine: PermissionEngine | None = None,
) -> Mapping[str, UserChange]:
    """`permission_diff` with `admin_before`/`admin_after` meaning administrator-equivalent
    directly *or by escalation*; users whose only change is that status are added."""
    old = administrators(before, ctx, engine)
    new = administrators(after, ctx, engine)
    names = set(changes) | {n for n in set(old) | set(new)
                            if (n in old and old[n].admin) != (n in new and new[n].admin)}
    out: dict[str, UserChange] = {}
    for name in sorted(names):
        base = changes.get(name) or UserChange(name, (), (), False, False)
        out[name] = replace(base, admin_before=name in old and old[name].admin,
                            admin_after=name in new and new[name].admin)
    return MappingProxyType(out)


# --------------------------------------------------------------------------------------------
# Findings.
# --------------------------------------------------------------------------------------------


def _via(grants: Iterable[Grant]) -> tuple[str, ...]:
    return tuple(sorted({source for g in grants for source in g.via}))


def _detail(subject: str, path: EscalationPath, use: _Use) -> str:
    """One sentence: who, what they can do, and with which actions on which resources."""
    steps = ", ".join(f"{action} on {', '.join(grants[0].resources)}"
                      for action, grants in use.steps)
    conditional = all(g.conditions or g.unless for g in use.grants)
    when = ", under conditions," if conditional else ""
    return f"{subject} {path.summary}{when} ({steps})."


def _group_findings(analysis: _Analysis) -> list[EscalationFinding]:
    findings: list[EscalationFinding] = []
    for name in sorted(analysis.state.groups):
        principal = f"group/{name}"
        perms = analysis.group_perms(name)
        if perms.admin:
            findings.append(EscalationFinding(
                ADMIN_EQUIVALENT, principal, CRITICAL,
                f"Members of group {name} can perform every IAM action on every resource, "
                "so they can grant themselves anything.", _via(_admin_grants(perms))))
            continue
        for path_id, use in sorted(analysis.group_paths(name).items()):
            path = PATHS_BY_ID[path_id]
            findings.append(EscalationFinding(path_id, principal, path.severity,
                                    _detail(f"Members of group {name}", path, use),
                                    _via(use.grants), use.reach, path.references))
    return findings


def _explained(analysis: _Analysis, user: User) -> set[str]:
    """Finding ids a single group of the user already carries."""
    ids: set[str] = set()
    for group in analysis.user_groups(user):
        if analysis.group_perms(group).admin:
            ids.add(ADMIN_EQUIVALENT)
        else:
            ids |= set(analysis.group_paths(group))
    return ids


def _user_findings(analysis: _Analysis, user: User, status: AdminStatus) -> list[EscalationFinding]:
    principal, subject = f"user/{user.name}", f"User {user.name}"
    explained = _explained(analysis, user)
    if ADMIN_EQUIVALENT in explained:
        return []  # an administrator group of theirs says it all
    if status.direct:
        grants = _admin_grants(analysis.user_perms(user))
        return [EscalationFinding(ADMIN_EQUIVALENT, principal, CRITICAL,
                        f"{subject} can perform every IAM action on every resource through "
                        "the combination of their policies.", _via(grants))]
    findings = []
    paths = analysis.user_paths(user)
    for path_id in sorted(set(paths) - explained):
        path = PATHS_BY_ID[path_id]
        findings.append(EscalationFinding(path_id, principal, path.severity,
                                _detail(subject, path, paths[path_id]),
                                _via(paths[path_id].grants), paths[path_id].reach,
                                path.references))
    if status.paths and not set(status.paths) & explained:
        via = _via(g for p in status.paths if p in paths for g in paths[p].grants)
        findings.append(EscalationFinding(
            ADMIN_EQUIVALENT, principal, CRITICAL,
            f"{subject} can make themselves administrator-equivalent "
            f"({', '.join(status.paths)}).", via))
    return findings


def escalation_findings(state: State, ctx: Context, engine: PermissionEngine | None = None
                        ) -> list[EscalationFinding]:
    """Every finding on the state, sorted by principal then id (see the module's rule)."""
    analysis = _analysis(state, ctx, engine)
    findings = _group_findings(analysis)
    admins = analysis.administrators()
    for name in sorted(state.users):
        findings += _user_findings(analysis, state.users[name], admins[name])
    return sorted(findings, key=lambda f: (f.principal, f.id))


def member_findings(state: State, ctx: Context, engine: PermissionEngine | None = None
                    ) -> dict[tuple[str, str], tuple[EscalationFinding, str]]:
    """Each path a user has through one group of theirs, as a finding of the user, with
    the group's principal: a finding is per (id, principal), so a user who joins a group
    carrying a path has that path newly (the group's own finding stands unchanged)."""
    analysis = _analysis(state, ctx, engine)
    found: dict[tuple[str, str], tuple[EscalationFinding, str]] = {}
    for name in sorted(state.users):
        for group in analysis.user_groups(state.users[name]):
            if analysis.group_perms(group).admin:
                continue  # the user is administrator-equivalent: a finding of its own
            for path_id, use in sorted(analysis.group_paths(group).items()):
                path = PATHS_BY_ID[path_id]
                found.setdefault((path_id, f"user/{name}"), (EscalationFinding(
                    path_id, f"user/{name}", path.severity,
                    _detail(f"User {name} (through group {group})", path, use),
                    _via(use.grants), use.reach, path.references), f"group/{group}"))
    return found


@lru_cache(maxsize=1)
def relevant_actions() -> ActionSet:
    """Every action some escalation path needs, and every IAM action (administrator-
    equivalence is about IAM): a change that touches none of these changes no finding."""
    needed = {need.action for path in PATHS for alternative in path.alternatives
              for need in alternative}
    return ActionSet.of(["iam:*", *needed])
