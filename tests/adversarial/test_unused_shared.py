"""`unused --write` judges one account at a time: a policies/ file that another account's
group also holds must not be trimmed from what this account's groups left unused (the
other account's group may use it every day)."""

from __future__ import annotations

import json
from pathlib import Path

from iamstate.repo import load_repository
from iamstate.unused import analyse, write
from tests.helpers import ACCOUNT_ID
from tests.helpers import write as write_file
from tests.unit.test_unused import LAKE, NOW, access, repo_in_git

OTHER = """
groups:
  AllUsers: {}
  AllHumans: {}
  AllHeadlessUsers: {}
  Ops:
    inline_policies:
      Lake: lake            # the same file, in another account
"""


def test_a_file_another_account_holds_is_not_trimmed(tmp_path: Path) -> None:
    write_file(tmp_path, "accounts/beta/account.yaml", f"""
        account_id: "{str(int(ACCOUNT_ID) + 1).zfill(12)}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
          AllHeadlessUsers: {{match: "^HeadlessUser-"}}
        """)
    write_file(tmp_path, "accounts/beta/groups.yaml", OTHER)
    repo = repo_in_git(tmp_path)
    acme = next(a for a in load_repository(repo) if a.config.name == "acme")
    reports, found = analyse(repo, acme, {
        "Data": access("Data", {"s3": None, "dynamodb": None, "sqs": None}),
        "Analysts": access("Analysts", {"s3": None, "dynamodb": None})}, 90, NOW)
    write(repo, reports, found)
    # beta's Ops may use s3 and dynamodb every day: acme's data says nothing about it
    assert json.loads((repo / "policies/lake.json").read_text()) == LAKE
    groups = (repo / "accounts/acme/groups.yaml").read_text()
    assert "Lake: lake" in groups  # not detached either
    kept = {k.grant.pattern: k.reason for r in reports for k in r.kept}
    assert "beta" in kept["s3:GetObject"] and "beta" in kept["dynamodb:GetItem"]
    assert "sqs:SendMessage" not in groups  # acme's own in-place document is still trimmed
