#!/usr/bin/env bash
# The whole iamstate loop on a laptop, no AWS account: a local IAM endpoint (moto), the
# example repository planned, applied, re-planned (no changes), drifted behind iamstate's
# back, and the drift planned away. Every command shown is what you would type yourself.
set -euo pipefail
cd "$(dirname "$0")/.."

show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { show "$*"; "$@"; }

iamstate sandbox stop >/dev/null 2>&1 || true
trap 'iamstate sandbox stop >/dev/null 2>&1 || true' EXIT
show 'eval "$(iamstate sandbox start --port 0)"'
eval "$(iamstate sandbox start --port 0)"
echo "sandbox listening on $AWS_ENDPOINT_URL"

run iamstate validate
run iamstate plan --out .iamstate/plan.json
run iamstate apply .iamstate/plan.json
run iamstate plan --detailed-exitcode        # exit 0: live state matches the repository
echo "(jdoe's one-time console password is only in .iamstate/out/sandbox/jdoe.age, encrypted)"

show "iamstate audit     # exit 3: findings; humans without MFA yet, and two CIS controls of the root account"
iamstate audit || [ $? -eq 3 ]

show "# drift: someone adds a user with a key and an admin policy behind iamstate's back"
python - <<'PY'
import json

import boto3

iam = boto3.client("iam")
admin = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
iam.create_user(UserName="shadow-admin")
iam.create_access_key(UserName="shadow-admin")
iam.put_user_policy(UserName="shadow-admin", PolicyName="admin",
                    PolicyDocument=json.dumps(admin))
iam.attach_user_policy(UserName="jdoe", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
print("created user shadow-admin (with an access key and an inline admin policy)")
print("attached AdministratorAccess directly to jdoe")
PY

show "iamstate plan --detailed-exitcode --out .iamstate/plan.json   # exit 2: changes"
status=0
iamstate plan --detailed-exitcode --out .iamstate/plan.json || status=$?
[ "$status" -eq 2 ] || { echo "expected exit 2 (changes), got $status" >&2; exit 1; }
run iamstate apply .iamstate/plan.json
run iamstate plan --detailed-exitcode

show "# least privilege over time: two users call AWS with their own access keys"
python - <<'PY'
import boto3

iam = boto3.client("iam")
for user in ("jdoe", "HeadlessUser-backup"):
    key = iam.create_access_key(UserName=user)["AccessKey"]
    own = {"aws_access_key_id": key["AccessKeyId"],
           "aws_secret_access_key": key["SecretAccessKey"]}
    boto3.client("sts", **own).get_caller_identity()
    if user == "jdoe":
        boto3.client("iam", **own).get_user(UserName="jdoe")
print("jdoe read IAM and STS; HeadlessUser-backup called STS; nobody wrote a backup")
PY
show "iamstate unused   # exit 2: e.g. BackupWriters grants S3, which no member used"
status=0
iamstate unused || status=$?
[ "$status" -eq 2 ] || { echo "expected exit 2 (unused grants), got $status" >&2; exit 1; }
echo
echo "Done: the drift is gone. Try editing accounts/sandbox/*.yaml and planning again."
