"""One-time console passwords: generated here, encrypted to the user's key, never shown.

The clear text lives only in this process's memory between generation and the
CreateLoginProfile call; what reaches disk is age ciphertext (armoured, so CI can keep it
as an artifact) that only the holder of the user's private key can open.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from pathlib import Path
from typing import TYPE_CHECKING

import pyrage

from iamstate.repository.files import write_safely

if TYPE_CHECKING:
    from iamstate.entities.password_policy.model import PasswordPolicy

SYMBOLS = "!@#$%^&*()_+-=[]{}|'"  # the symbols IAM password policies count
MIN_LENGTH = 24


def generate_password(policy: PasswordPolicy | None) -> str:
    """A random password meeting any policy: every character class, at least 24 long."""
    wanted = int(policy.as_dict()["MinimumPasswordLength"]) if policy else 0
    length = max(MIN_LENGTH, wanted)
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS]
    alphabet = "".join(classes)
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def recipient(public_key: str) -> pyrage.x25519.Recipient | pyrage.ssh.Recipient:
    """An age recipient from an age (age1...) or OpenSSH (ssh-ed25519/ssh-rsa) public key."""
    key = public_key.strip()
    if key.startswith("age1"):
        return pyrage.x25519.Recipient.from_str(key)
    return pyrage.ssh.Recipient.from_str(key)


def check_public_key(public_key: str) -> str | None:
    """None if age accepts the key as a recipient, else why not."""
    try:
        recipient(public_key)
    except Exception as error:  # pyrage raises its own RecipientError and ValueError
        return str(error) or type(error).__name__
    return None


def fingerprint(public_key: str) -> str:
    """Who a one-time password is encrypted to, as a reviewer can check it: an age
    recipient as written, an ssh key as `ssh-ed25519 SHA256:...` (what ssh-keygen -l shows)
    with its comment."""
    key = public_key.strip()
    if key.startswith("age1"):
        return key
    parts = key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):
        return "an unreadable key"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    comment = f" ({' '.join(parts[2:])})" if len(parts) > 2 else ""
    return f"{parts[0]} SHA256:{digest}{comment}"


def one_time_password_file(out_dir: Path, account: str, user: str) -> Path:
    return out_dir / account / f"{user}.age"


def write_encrypted(secret: str, public_key: str, path: Path, root: Path) -> Path:
    """Encrypt `secret` to `public_key` into `path` (armoured age, mode 0600), never
    through a link planted under `root` (`.iamstate` -> elsewhere, or the file itself)."""
    ciphertext = pyrage.encrypt(secret.encode(), [recipient(public_key)], armored=True)
    return write_safely(path, ciphertext, root, mode=0o600)
